"""Reroute workflow (``reroute:<site>:<asset>``): move queued work off a degraded machine and back."""
