"""Decide: policies as code turning health reports into proposed actions.

Modules (imported explicitly; this ``__init__`` stays light because the workflow sandbox
re-imports it): ``models`` (Action, ProposedAction, Decision), ``base`` (Policy, PolicyContext,
Case), ``engine`` (PolicyEngine, EngineConfig), ``budget``, ``loader`` (load_all,
load_policy_file), ``testing`` (run_cases), ``store`` (DecisionStore), ``explain``, ``backtest``.
See ``policies/README.md``.
"""
