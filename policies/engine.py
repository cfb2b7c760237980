"""The policy engine: runs every loaded policy over the newest health reports, deterministically.

What it adds to a policy's ``evaluate`` (the semantics of Prometheus rules, AWS IoT Events timers
and budgets none of them have):

- *for* duration: a proposal's condition must hold continuously for ``Policy.for_duration``;
- hysteresis: ``ctx.is_active(key)`` / ``ctx.exceeds`` let a policy clear at another threshold
  than it fires; the engine keeps which problems are active;
- de-duplication: one ongoing problem (one ``dedup_key``) gives one decision, not one per report;
- cool-down after a problem cleared, suppression windows, workflows already open for the key;
- stale or missing data: an explicit ``stale_data`` decision, once per episode, never silence;
- precedence: inside a ``conflict_group`` the lowest precedence number holding an asset wins;
- budgets: automatic actions per site and day are counted and priced; beyond the budget the
  action needs approval, and the decision says why;
- isolation: a policy that raises yields one ``error`` decision; the others keep running.

Decision ids hash policy, version, asset, key, outcome and time: the same inputs give the same
decisions, and a replayed stream writes no duplicates into the log.
"""

from __future__ import annotations

import heapq
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from agents.models import AssetKind, HealthReport, Status
from policies.base import Frozen, Policy, PolicyContext
from policies.budget import Budget, BudgetLedger, cap_autonomy
from policies.models import (
    Autonomy,
    Decision,
    DecisionOutcome,
    ProposedAction,
)
from policies.records import make_decision


class EngineConfig(Frozen):
    shadow: bool = False  # backtest / audit mode: outcomes are ``shadow``, nothing is executed
    budget: Budget = Budget()
    # policy id -> overrides, with "asset:<id>" / "line:<name>" sub-tables (plant configuration)
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # policy id -> the most autonomy its actions may have here (suggest < approve < auto)
    autonomy: dict[str, Autonomy] = Field(default_factory=dict)


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy with where it came from: the file and the hash of its source."""

    policy: Policy
    source_hash: str
    path: str = ""


@dataclass
class _KeyState:
    since: datetime  # first evaluation in this episode that proposed the key
    fired: bool = False
    noted: str = ""  # the last hold-back reason recorded, so each is recorded once per episode
    missing_since: datetime | None = None  # a fired key not proposed since then (clear_after grace)
    owned: bool = False  # a workflow for the fired key was seen open (it may since have ended)


@dataclass
class _Candidate:
    lp: LoadedPolicy
    asset: str
    state: _KeyState
    proposal: ProposedAction
    report: HealthReport
    params: BaseModel


@dataclass
class EngineStats:
    evaluations: int = 0
    skipped: int = 0  # evaluations not repeated: same report, same context, nothing pending
    duplicates_dropped: int = 0  # proposals of an already active problem
    pending: int = 0  # proposals waiting for their for-duration
    outcomes: Counter[str] = field(default_factory=Counter)


def _for_duration(policy: Policy, params: BaseModel) -> timedelta:
    # "vibration above X for Y minutes": Y is a parameter the plant may override per asset
    minutes = getattr(params, "for_duration_min", None)
    return timedelta(minutes=minutes) if minutes is not None else policy.for_duration


def _context_signature(ctx: PolicyContext) -> tuple[Any, ...]:
    """What of a context a policy's answer may depend on besides the report: not ``now`` nor
    ``open_keys``, which only the engine's own state of a pair needs (``Policy.every_step``).

    Compared step to step (equal parts are mostly the same objects: cheap); copies, so a caller
    that changes a dict in place after the step is still seen changing it."""
    return (
        ctx.site,
        ctx.planned_windows,
        ctx.suppressions,
        dict(ctx.stock),
        dict(ctx.catalog),
        dict(ctx.machines),
        dict(ctx.expected_assets),
    )


def _where(exc: BaseException, path: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if path and f.filename == path]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


class PolicyEngine:
    """Feed reports with ``observe``, decide with ``step(ctx)``; ``process`` does both."""

    def __init__(
        self,
        policies: Sequence[LoadedPolicy],
        config: EngineConfig | None = None,
        *,
        incremental: bool = True,
    ) -> None:
        self.config = config or EngineConfig()
        # Incremental: a policy is evaluated again on an asset only when what it could answer
        # differently changed (see ``_quiet``); False evaluates everything every step.
        self.incremental = incremental
        # (policy id, asset) -> (report, machine info) of an evaluation that proposed nothing
        self._quiet: dict[tuple[str, str], tuple[HealthReport, Any]] = {}
        self._ctx_seen: tuple[Any, ...] | None = None
        self._by_pair: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        # Which pairs a step must look at, so a quiet plant costs what changed, not every
        # (policy, asset) pair (10,000 assets: issue 16). Per policy: the asset list last walked
        # and the assets not quiet after it; assets with a new report since the last step;
        # (report time + stale_after, policy, asset) of quiet pairs, to look again once stale
        # (one entry per pair, moved on to its newer report's time when it comes due).
        self._walked: dict[str, list[str]] = {}
        self._loud: dict[str, set[str]] = {}
        self._changed: set[str] = set()
        self._stale_at: list[tuple[datetime, str, str]] = []
        self._timed: set[tuple[str, str]] = set()  # pairs with an entry in ``_stale_at``
        self._stale_after = {lp.policy.id: lp.policy.stale_after for lp in policies}
        self._covered_sets: dict[str, tuple[list[str], set[str]]] = {}
        self.policies = sorted(policies, key=lambda lp: (lp.policy.precedence, lp.policy.id))
        self.stats = EngineStats()
        self._latest: dict[str, HealthReport] = {}
        # Bumped when an asset appears or changes kind: ``_assets_for``'s lists hold until then.
        self._kinds_version = 0
        self._assets_cache: dict[int, tuple[int, dict[str, AssetKind], list[str]]] = {}
        self._latest_text: dict[str, tuple[HealthReport, str]] = {}  # asset -> (report, its JSON)
        self._keys: dict[tuple[str, str, str], _KeyState] = {}
        self._last_fired: dict[tuple[str, str], datetime] = {}
        self._stale_noted: set[tuple[str, str]] = set()
        self._error_noted: dict[tuple[str, str], str] = {}
        self._ledger = BudgetLedger(self.config.budget)

    # -- input ---------------------------------------------------------------------------------
    def observe(self, reports: Iterable[HealthReport]) -> None:
        """Keep the newest report per asset; re-delivered or out-of-order reports are ignored."""
        for report in reports:
            current = self._latest.get(report.asset_id)
            if current is None or (report.time, report.seq) > (current.time, current.seq):
                self._latest[report.asset_id] = report
                self._changed.add(report.asset_id)
                if current is None or current.asset_kind != report.asset_kind:
                    self._kinds_version += 1  # which assets a policy covers may have changed

    def process(self, reports: Iterable[HealthReport], ctx: PolicyContext) -> list[Decision]:
        self.observe(reports)
        return self.step(ctx)

    # -- state, so a restarted orchestrator does not re-open what is already open ---------------
    def snapshot(self, *, latest: bool = True) -> dict[str, Any]:
        """Everything the engine remembers, as JSON-able data (see ``restore``). Without
        ``latest`` the newest reports are left out: ``latest_json`` gives them serialised."""
        return {
            **(
                {"latest": [r.model_dump(mode="json") for _, r in sorted(self._latest.items())]}
                if latest
                else {}
            ),
            "keys": [
                {
                    "policy": p,
                    "asset": a,
                    "key": k,
                    "since": st.since.isoformat(),
                    "fired": st.fired,
                    "noted": st.noted,
                    "missing_since": st.missing_since.isoformat() if st.missing_since else None,
                    "owned": st.owned,
                }
                for (p, a, k), st in self._keys.items()
            ],
            "last_fired": [[p, k, t.isoformat()] for (p, k), t in self._last_fired.items()],
            "stale_noted": sorted([p, a] for p, a in self._stale_noted),
            "error_noted": [[p, a, m] for (p, a), m in self._error_noted.items()],
            "budget": self._ledger.state(),
        }

    def latest_json(self) -> list[str]:
        """The newest report of each asset as JSON text, in asset order: ``snapshot()["latest"]``
        serialised. Each report is serialised once and kept, so saving the engine every tick
        costs the reports that changed, not the plant (10,000 assets: issue 16)."""
        out: list[str] = []
        cache = self._latest_text
        for asset, report in sorted(self._latest.items()):
            hit = cache.get(asset)
            if hit is None or hit[0] is not report:
                hit = cache[asset] = (report, report.model_dump_json())
            out.append(hit[1])
        return out

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Resume from ``snapshot()`` of an engine with the same policies."""
        self._latest = {
            r.asset_id: r for r in (HealthReport.model_validate(x) for x in snapshot["latest"])
        }
        self._kinds_version += 1
        self._keys = {
            (k["policy"], k["asset"], k["key"]): _KeyState(
                since=datetime.fromisoformat(k["since"]),
                fired=k["fired"],
                noted=k["noted"],
                missing_since=datetime.fromisoformat(k["missing_since"])
                if k["missing_since"]
                else None,
                owned=bool(k.get("owned", False)),  # snapshots from before it was kept: False
            )
            for k in snapshot["keys"]
        }
        self._last_fired = {(p, k): datetime.fromisoformat(t) for p, k, t in snapshot["last_fired"]}
        self._stale_noted = {(p, a) for p, a in snapshot["stale_noted"]}
        self._error_noted = {(p, a): m for p, a, m in snapshot["error_noted"]}
        self._ledger.load(snapshot["budget"])
        self._quiet.clear()
        self._ctx_seen = None
        self._walked.clear()
        self._stale_at, self._timed = [], set()

    # -- one evaluation round ------------------------------------------------------------------
    def step(self, ctx: PolicyContext) -> list[Decision]:
        """Evaluate every policy on every asset it covers at ``ctx.now``; return new decisions."""
        out: list[Decision] = []
        candidates: list[_Candidate] = []
        # (asset, conflict group) -> (precedence, policy id) of the strongest policy holding it
        holders: dict[tuple[str, str], tuple[int, str]] = {}
        # Each (policy, asset)'s keys; a pair's keys change only while that pair is evaluated,
        # so the index made here holds for every pair when its turn comes.
        self._by_pair: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for k in self._keys:
            self._by_pair.setdefault((k[0], k[1]), []).append(k)
        seen_ctx = _context_signature(ctx)
        last_ctx, self._ctx_seen = self._ctx_seen, seen_ctx
        full = not self.incremental or seen_ctx != last_ctx
        if full:
            self._quiet.clear()  # something besides the reports changed: evaluate everything
        now = ctx.now
        look = self._look_again(ctx, last_ctx if not full else None)

        for lp in self.policies:
            policy = lp.policy
            pid, stale_after = policy.id, policy.stale_after
            quiet_ok = self.incremental and not policy.every_step
            assets = self._assets_for(policy, ctx)
            loud = self._loud.setdefault(pid, set())
            if quiet_ok and not full and self._walked.get(pid) is assets:
                # Only the pairs that may answer differently; every other one is quiet on the
                # report and context it was quiet on (the check below holds for each of them).
                covered = self._covered(pid, assets)
                todo = sorted((loud | look.get(pid, set()) | look.get("", set())) & covered)
                self.stats.skipped += len(assets) - len(todo)
            else:
                todo, loud = assets, set()
                self._loud[pid] = loud
            self._walked[pid] = assets
            for asset in todo:
                loud.add(asset)  # until it proves quiet below
                report = self._latest.get(asset)
                if quiet_ok and report is not None:
                    quiet = self._quiet.get((pid, asset))
                    if (
                        quiet is not None
                        and quiet[0] is report
                        and now - report.time <= stale_after
                        and quiet[1] is ctx.machines.get(asset)
                        and (pid, asset) not in self._by_pair
                    ):
                        # Proposed nothing on this very report in this very context, is not
                        # stale yet, and nothing of the pair is pending, fired or cooling down:
                        # the answer would be the same (see ``Policy.every_step``).
                        self.stats.skipped += 1
                        loud.discard(asset)
                        continue
                stale = self._stale_reason(policy, asset, report, ctx)
                if stale is not None:
                    self._on_stale(lp, asset, report, stale, ctx, out)
                    continue
                assert report is not None
                self._stale_noted.discard((policy.id, asset))
                machine = ctx.machines.get(asset)
                pair = (policy.id, asset)
                self._quiet.pop(pair, None)
                try:
                    params = policy.resolve_params(
                        self.config.parameters.get(policy.id),
                        asset,
                        machine.line if machine else "",
                    )
                    # A fired problem whose workflow has ended (cool-down over) is judged afresh:
                    # at the fire threshold, not inside its hysteresis band. Its order was
                    # received or rejected; only a problem that is still there starts another.
                    active = frozenset(
                        k[2]
                        for k in self._by_pair.get(pair, ())
                        if self._keys[k].fired
                        and not (self._keys[k].owned and self._unowned(policy, k[2], ctx))
                    )
                    # The context as is when it already says the same (no copy per evaluation)
                    seen_by = (
                        ctx
                        if active == ctx.active_keys
                        else ctx.model_copy(update={"active_keys": active})
                    )
                    proposals = policy.evaluate([report], seen_by, params)
                    proposals = self._checked(policy, proposals)
                except Exception as exc:  # isolation: one broken policy must not stop the others
                    self._on_error(lp, asset, report, exc, ctx, out)
                    continue
                self._error_noted.pop((policy.id, asset), None)
                self.stats.evaluations += 1
                seen: set[str] = set()
                for proposal in proposals:
                    key = proposal.dedup_key
                    if key in seen:
                        continue
                    seen.add(key)
                    st = self._keys.get((policy.id, asset, key))
                    if st is None:
                        st = self._keys[(policy.id, asset, key)] = _KeyState(since=ctx.now)
                        self._by_pair.setdefault(pair, []).append((policy.id, asset, key))
                    st.missing_since = None
                    if st.fired and key in ctx.open_keys:
                        st.owned = True
                    if st.fired and st.owned and self._unowned(policy, key, ctx):
                        # What it started has ended (rejected, failed, done) and the problem is
                        # still here after the cool-down: propose again, so nothing stays red
                        # with nobody on it.
                        st.fired = st.owned = False
                        st.noted = ""
                    if st.fired:
                        self.stats.duplicates_dropped += 1
                        self._hold(holders, asset, policy)
                        continue
                    if ctx.now - st.since < _for_duration(policy, params):
                        self.stats.pending += 1
                        continue
                    reason = self._held_back(policy, asset, key, ctx)
                    if reason:
                        if st.noted != reason:
                            st.noted = reason
                            out.append(
                                self._decision(
                                    lp,
                                    asset,
                                    key,
                                    DecisionOutcome.SUPPRESSED,
                                    ctx,
                                    report,
                                    params,
                                    proposal,
                                    reason,
                                )
                            )
                        continue
                    candidates.append(_Candidate(lp, asset, st, proposal, report, params))
                    self._hold(holders, asset, policy)
                self._clear_unseen(policy, asset, seen, ctx.now)
                if not proposals and self.incremental and pair not in self._by_pair:
                    self._quiet[pair] = (report, machine)
                    loud.discard(asset)
                    if pair not in self._timed:  # one entry per pair; moved on when it is due
                        self._timed.add(pair)
                        heapq.heappush(self._stale_at, (report.time + stale_after, pid, asset))

        for cand in candidates:
            policy = cand.lp.policy
            holder = (
                holders.get((cand.asset, policy.conflict_group)) if policy.conflict_group else None
            )
            if holder is not None and holder[1] != policy.id:
                reason = (
                    f"outranked by policy {holder[1]!r} (precedence {holder[0]} before "
                    f"{policy.precedence}) on asset {cand.asset}"
                )
                if cand.state.noted != reason:
                    cand.state.noted = reason
                    out.append(
                        self._decision(
                            cand.lp,
                            cand.asset,
                            cand.proposal.dedup_key,
                            DecisionOutcome.SUPPRESSED,
                            ctx,
                            cand.report,
                            cand.params,
                            cand.proposal,
                            reason,
                        )
                    )
                continue
            proposal, capped = cap_autonomy(
                cand.proposal,
                self.config.autonomy.get(policy.id),
                policy.id,
                self.config.budget.approver_roles,
            )
            proposal, note = self._ledger.charge(proposal, ctx.site, ctx.now)
            note = " ".join(n for n in (capped, note) if n)
            outcome = DecisionOutcome.SHADOW if self.config.shadow else DecisionOutcome.PROPOSED
            text = proposal.explanation + (f" {note}" if note else "")
            out.append(
                self._decision(
                    cand.lp,
                    cand.asset,
                    proposal.dedup_key,
                    outcome,
                    ctx,
                    cand.report,
                    cand.params,
                    proposal,
                    text,
                )
            )
            cand.state.fired = True
            cand.state.noted = ""
            self._last_fired[(policy.id, proposal.dedup_key)] = ctx.now

        for d in out:
            self.stats.outcomes[d.outcome.value] += 1
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _look_again(
        self, ctx: PolicyContext, last_ctx: tuple[Any, ...] | None
    ) -> dict[str, set[str]]:
        """Assets to look at again this step, by policy id ("": every policy): a new report, a
        machine entry that is another object than the one a pair was quiet on, a pending,
        fired or cooling-down key, a quiet report gone stale. Consumes the new-report set."""
        look: dict[str, set[str]] = {"": self._changed}
        self._changed = set()
        if last_ctx is not None:
            before, machines = last_ctx[5], ctx.machines
            moved = {a for a, m in machines.items() if before.get(a) is not m}
            moved |= before.keys() - machines.keys()
            look[""] |= moved
        for pid, asset in self._by_pair:
            look.setdefault(pid, set()).add(asset)
        heap, now = self._stale_at, ctx.now
        while heap and heap[0][0] < now:
            _, pid, asset = heapq.heappop(heap)
            pair = (pid, asset)
            quiet = self._quiet.get(pair)
            due = quiet[0].time + self._stale_after[pid] if quiet is not None else None
            if due is not None and due >= now:
                heapq.heappush(heap, (due, pid, asset))  # quiet since on a newer report
                continue
            self._timed.discard(pair)
            look.setdefault(pid, set()).add(asset)
        return look

    def _covered(self, pid: str, assets: list[str]) -> set[str]:
        """``assets`` as a set, made once per list ``_assets_for`` makes."""
        hit = self._covered_sets.get(pid)
        if hit is None or hit[0] is not assets:
            hit = self._covered_sets[pid] = (assets, set(assets))
        return hit[1]

    def _assets_for(self, policy: Policy, ctx: PolicyContext) -> list[str]:
        """The assets ``policy`` covers, sorted: reported or expected of its kinds. Kept until an
        asset appears or changes kind, or the expected assets change (10,000 assets: a set and
        a sort per policy per tick otherwise)."""
        key = id(policy)  # the engine holds its policies: an id stays theirs
        cached = self._assets_cache.get(key)
        expected = ctx.expected_assets
        # A copy is compared (the caller may change its dict in place between ticks).
        if cached is not None and cached[0] == self._kinds_version and cached[1] == expected:
            return cached[2]
        seen = {a for a, r in self._latest.items() if r.asset_kind in policy.asset_kinds}
        seen |= {a for a, kind in expected.items() if kind in policy.asset_kinds}
        assets = sorted(seen)
        self._assets_cache[key] = (self._kinds_version, dict(expected), assets)
        return assets

    def _clear_unseen(self, policy: Policy, asset: str, seen: set[str], now: datetime) -> None:
        """A key the policy no longer proposes has cleared: the problem is over.

        Pending keys clear at once (the for-duration needs continuity); fired keys only after
        ``clear_after`` without a proposal, so one noisy report does not end a problem and open
        it again (Prometheus' keep_firing_for).
        """
        pair = (policy.id, asset)
        keys = list(self._by_pair.get(pair, ()))
        for k in keys:
            if k[2] in seen:
                continue
            st = self._keys[k]
            if st.fired and policy.clear_after > timedelta(0):
                st.missing_since = st.missing_since or now
                if now - st.missing_since < policy.clear_after:
                    continue
            del self._keys[k]
        left = [k for k in keys if k in self._keys]
        if left:
            self._by_pair[pair] = left
        else:
            self._by_pair.pop(pair, None)

    @staticmethod
    def _stale_reason(
        policy: Policy, asset: str, report: HealthReport | None, ctx: PolicyContext
    ) -> str | None:
        if report is None:
            return f"no report from expected asset {asset} yet: cannot decide"
        age = ctx.now - report.time
        if age > policy.stale_after:
            return (
                f"newest report from {asset} is {age.total_seconds() / 3600:.2f} h old "
                f"(limit {policy.stale_after.total_seconds() / 3600:.2f} h): cannot decide"
            )
        if report.status == Status.UNKNOWN:
            return f"{asset} reports status unknown (no usable data): cannot decide"
        return None

    def _on_stale(
        self,
        lp: LoadedPolicy,
        asset: str,
        report: HealthReport | None,
        reason: str,
        ctx: PolicyContext,
        out: list[Decision],
    ) -> None:
        # Continuity is broken: pending for-durations restart once data is back.
        pair = (lp.policy.id, asset)
        keys = self._by_pair.get(pair, [])
        for k in [k for k in keys if not self._keys[k].fired]:
            del self._keys[k]
        left = [k for k in keys if k in self._keys]
        if left:
            self._by_pair[pair] = left
        else:
            self._by_pair.pop(pair, None)
        if (lp.policy.id, asset) in self._stale_noted:
            return
        self._stale_noted.add((lp.policy.id, asset))
        out.append(
            self._decision(
                lp,
                asset,
                f"stale:{asset}",
                DecisionOutcome.STALE_DATA,
                ctx,
                report,
                None,
                None,
                reason,
            )
        )

    def _on_error(
        self,
        lp: LoadedPolicy,
        asset: str,
        report: HealthReport,
        exc: Exception,
        ctx: PolicyContext,
        out: list[Decision],
    ) -> None:
        message = f"policy {lp.policy.id} raised {type(exc).__name__}: {exc}{_where(exc, lp.path)}"
        if self._error_noted.get((lp.policy.id, asset)) == message:
            return
        self._error_noted[(lp.policy.id, asset)] = message
        out.append(
            self._decision(
                lp, asset, f"error:{asset}", DecisionOutcome.ERROR, ctx, report, None, None, message
            )
        )

    @staticmethod
    def _checked(policy: Policy, proposals: Any) -> list[ProposedAction]:
        if not isinstance(proposals, list | tuple) or not all(
            isinstance(p, ProposedAction) for p in proposals
        ):
            raise TypeError(
                f"evaluate of {policy.id} must return a list of ProposedAction, got {proposals!r:.120}"
            )
        return list(proposals)

    @staticmethod
    def _hold(holders: dict[tuple[str, str], tuple[int, str]], asset: str, policy: Policy) -> None:
        if not policy.conflict_group:
            return
        slot = (asset, policy.conflict_group)
        mine = (policy.precedence, policy.id)
        if slot not in holders or mine < holders[slot]:
            holders[slot] = mine

    def _unowned(self, policy: Policy, key: str, ctx: PolicyContext) -> bool:
        """A fired problem whose workflow is no longer open, its cool-down over. Policies without
        a cool-down, proposals that start no workflow and backtests (no workflows at all) keep the
        old rule: one proposal per episode."""
        last = self._last_fired.get((policy.id, key))
        return (
            policy.cooldown > timedelta(0)
            and last is not None
            and key not in ctx.open_keys
            and ctx.now >= last + policy.cooldown
        )

    def _held_back(self, policy: Policy, asset: str, key: str, ctx: PolicyContext) -> str:
        for window in ctx.suppressions:
            if window.active(asset, ctx.now):
                return f"suppressed until {window.end.isoformat()}: {window.reason}"
        if key in ctx.open_keys:
            return f"a workflow for {key} is already open"
        last = self._last_fired.get((policy.id, key))
        if last is not None and ctx.now < last + policy.cooldown:
            return f"cool-down until {(last + policy.cooldown).isoformat()} after firing at {last.isoformat()}"
        return ""

    def _decision(
        self,
        lp: LoadedPolicy,
        asset: str,
        key: str,
        outcome: DecisionOutcome,
        ctx: PolicyContext,
        report: HealthReport | None,
        params: BaseModel | None,
        proposal: ProposedAction | None,
        explanation: str,
    ) -> Decision:
        return make_decision(
            lp.policy,
            lp.source_hash,
            asset=asset,
            key=key,
            outcome=outcome,
            ctx=ctx,
            report=report,
            params=params,
            proposal=proposal,
            explanation=explanation,
        )
