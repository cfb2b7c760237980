"""The approvers' and operators' web UI and the JSON API behind it."""
