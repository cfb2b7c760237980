"""The policies that ship with autoops; each ``<name>.py`` has its cases in ``<name>_cases.py``."""
