"""Shift report: a durable clock that writes the end-of-shift report at each shift's end."""
