"""Run: wires agents, policies and workflows; CLI, web API, telemetry."""
