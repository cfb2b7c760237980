"""Act: durable Temporal workflows. Keep light: the workflow sandbox re-imports it."""
