"""Sense: asset agents that turn readings into ``HealthReport``s. Imports nothing else of ours."""
