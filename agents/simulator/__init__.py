"""Seeded, time-compressed digital twins of the plant's assets, with fault injection."""
