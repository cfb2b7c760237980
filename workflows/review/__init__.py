"""Review: a flagged asset goes to a person of the role that owns it, who closes it with a comment."""
