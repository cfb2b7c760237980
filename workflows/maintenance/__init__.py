"""Maintenance workflow (``maint:<site>:<asset>``): window, parts, approval, CMMS work order, health."""
