"""Notifications that reach people: mail over SMTP and signed webhooks, routed by role, line and
priority, with deep links, digests and a durable sent-log (see ``service.py``)."""
