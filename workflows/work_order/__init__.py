"""Work order: one CMMS work order for a problem that needs hands, not a planned window."""
