"""Learn: the end-of-shift report (figures from the history store, an HTML page with plots)."""

from orchestrator.report.shift import build_shift_report, policy_report

__all__ = ["build_shift_report", "policy_report"]
