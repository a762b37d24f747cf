"""observe / generate / rank / plan: the pure pipeline from a context to ranked candidates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.planning.build import candidate_id, finish
from scheduler.planning.clock import IdentityMemo
from scheduler.planning.model import (
    Candidate,
    CandidateType,
    Decision,
    Issue,
    Metrics,
    Observation,
    PlanningContext,
    PlanResult,
    Reason,
)
from scheduler.planning.placement import clear_weights, weights
from scheduler.planning.strategies import Findings, drafts
from scheduler.planning.target import Resolved, resolve
from scheduler.planning.tradeoff import with_tradeoffs
from scheduler.planning.window import Frame, clear_frames, frame, overlap

MAX_CHANGES = 3

# most important first: what makes the card (or its absence) make sense
ISSUE_ORDER = (
    "target_completed",
    "target_missing",
    "nothing_remaining",
    "target_already_scheduled",
    "conflict_resolved",
    "calendar_conflict",
    "feedback_target_unknown",
    "deadline_passed",
    "no_free_slot",
    "capacity_insufficient",
    "deadline_at_risk",
    "day_end_reached",
    "fragmented_time",
    "need_makeup",
    "partly_planned",
    "can_place_task",
    "deadline_beyond_window",
    "quiet_hours_now",
)


@dataclass(frozen=True)
class Analysis:
    frame: Frame
    resolved: Resolved
    observation: Observation
    changes: tuple[Candidate, ...]  # ranked, at most MAX_CHANGES


def rank_key(c: Candidate) -> tuple[int, float, float, float, float, float, str]:
    """meets the deadline > least disruption > preference fit > more slack > earlier; then id."""
    return (
        0 if c.is_change else 1,
        -c.component("meets_deadline"),
        -c.component("disruption"),
        -c.component("preference_fit"),
        -c.component("slack"),
        -c.component("earliness"),
        c.id,
    )


def rank(candidates: Iterable[Candidate], ctx: PlanningContext | None = None) -> tuple[Candidate, ...]:
    """The deterministic order (meets the deadline, least disruption, preference fit, slack, earlier, id);
    it is also the fallback choice (the first one)."""
    return tuple(sorted(candidates, key=rank_key))


def _select(ranked: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """Keep the best, then prefer other strategies over more of the same, up to MAX_CHANGES."""
    chosen: list[Candidate] = []
    seen_ids: set[str] = set()
    for diverse in (True, False):
        for c in ranked:
            if len(chosen) >= MAX_CHANGES:
                break
            if c.id in seen_ids or (diverse and chosen and c.type in {x.type for x in chosen}):
                continue
            chosen.append(c)
            seen_ids.add(c.id)
    return rank(chosen)


def _issues(f: Frame, r: Resolved, found: Findings, changes: tuple[Candidate, ...]) -> list[Issue]:
    out: list[Issue] = []
    for code in (r.close, r.ask):
        if code:
            params: dict[str, object] = {"title": r.title}
            if code == "feedback_target_unknown":
                params["choices"] = len(r.options)
            out.append(Issue(code, params))
    if r.close or r.ask:
        return out
    needed = r.needed
    if r.conflict and r.block is not None:
        out.append(Issue("calendar_conflict", {"event": r.clash, "title": r.title}))
    if r.deadline is not None:
        if r.deadline <= f.now:
            out.append(Issue("deadline_passed", {"title": r.title, "minutes_ago": f.now - r.deadline}))
        elif r.deadline >= f.end:
            out.append(Issue("deadline_beyond_window", {"title": r.title}))
    if not found.any_slot:
        out.append(Issue("no_free_slot", {"needed_minutes": needed}))
    free_before = _free_before(f, r)
    if free_before < needed and not (r.deadline is not None and r.deadline <= f.now):
        out.append(Issue("capacity_insufficient", {"needed_minutes": needed, "free_minutes": free_before}))
    if (
        r.deadline is not None
        and f.now < r.deadline
        and not any(c.component("meets_deadline") for c in changes)
    ):
        out.append(Issue("deadline_at_risk", {"title": r.title}))
    if r.unfinished and not found.room_today:
        out.append(Issue("day_end_reached", {"needed_minutes": needed}))
    if found.split_needed:
        out.append(Issue("fragmented_time", {"needed_minutes": needed}))
    if r.planned:
        out.append(
            Issue(
                "partly_planned", {"title": r.title, "planned_minutes": r.planned, "needed_minutes": needed}
            )
        )
    if r.unfinished:
        out.append(Issue("need_makeup", {"title": r.title, "needed_minutes": needed}))
    elif found.slot_meets_deadline:
        out.append(Issue("can_place_task", {"title": r.title, "needed_minutes": needed}))
    if overlap(f.now, f.now + 1, f.quiet):
        out.append(Issue("quiet_hours_now"))
    return sorted(out, key=lambda i: ISSUE_ORDER.index(i.code))


def _free_before(f: Frame, r: Resolved) -> int:
    end = f.end if r.deadline is None else min(r.deadline, f.end)
    return sum(max(0, min(e, end) - s) for s, e in f.free)


_ANALYSES: IdentityMemo[PlanningContext, Analysis] = IdentityMemo()


def clear_caches() -> None:
    """Forget memoised analyses (benchmarks and determinism tests)."""
    _ANALYSES.cache_clear()
    clear_frames()
    clear_weights()


def analyze(ctx: PlanningContext) -> Analysis:
    """Everything about one context, computed once per context object."""
    hit = _ANALYSES.get(ctx)
    return hit if hit is not None else _ANALYSES.put(ctx, _analyze(ctx))


def _analyze(ctx: PlanningContext) -> Analysis:
    f = frame(ctx)
    r = resolve(ctx, f)
    found = Findings()
    changes: tuple[Candidate, ...] = ()
    if not (r.close or r.ask):
        w = weights(f)
        found_drafts, found = drafts(f, w, r)
        # a per-day cap on moving existing blocks: an option that would move more is not offered
        allowed = max(0, ctx.user.max_moves_per_day - ctx.moved_today)
        found_drafts = [d for d in found_drafts if d.disruption.blocks_moved <= allowed]
        changes = _select(rank(finish(d, f, w, r) for d in found_drafts))
        changes = with_tradeoffs(changes, {t.id: t.title for t in f.tasks.values()})
    if r.close:
        decision = Decision.CLOSE
    elif r.ask:
        decision = Decision.ASK_USER
    elif changes:
        decision = Decision.PROPOSE
    else:
        decision = Decision.NOTIFY_ONLY
    free = [e - s for s, e in f.free]
    metrics = Metrics(
        free_minutes_window=sum(free),
        free_minutes_before_deadline=_free_before(f, r),
        capacity_gap_minutes=r.needed - _free_before(f, r),
        needed_minutes=r.needed,
        target_done=r.done,
        target_scheduled=r.scheduled,
        minutes_to_deadline=None if r.deadline is None else r.deadline - f.now,
        blocks_affected=changes[0].disruption.blocks_moved if changes else 0,
        effective_quadrant=r.quadrant,
        in_quiet_hours=bool(overlap(f.now, f.now + 1, f.quiet)),
        longest_free_minutes=max(free, default=0),
    )
    obs = Observation(metrics, tuple(_issues(f, r, found, changes)), decision)
    return Analysis(f, r, obs, changes)


def observe(ctx: PlanningContext) -> Observation:
    return analyze(ctx).observation


def _single(a: Analysis, decision: Decision) -> Candidate:
    r, obs = a.resolved, a.observation
    if decision == Decision.ASK_USER:
        code = "which_block" if r.options else "which_task"
        question = Reason(code, {"choices": len(r.options)})
        return Candidate(
            id=candidate_id(CandidateType.ASK_USER, (), code + ":" + ",".join(r.options)),
            type=CandidateType.ASK_USER,
            reasons=tuple(Reason(i.code, i.params) for i in obs.issues),
            question=question,
            options=r.options,
            capacity_fit="none",
        )
    ctype = CandidateType.CLOSE if decision == Decision.CLOSE else CandidateType.NOTIFY_ONLY
    issues = tuple(Reason(i.code, i.params) for i in obs.issues)
    return Candidate(
        id=candidate_id(ctype, (), ",".join(i.code for i in obs.issues) + ":" + (r.task_id or "")),
        type=ctype,
        reasons=issues,
        risks=issues if ctype == CandidateType.NOTIFY_ONLY else (),
        capacity_fit="none",
        risk_level="high" if ctype == CandidateType.NOTIFY_ONLY else "low",
    )


def generate(ctx: PlanningContext, observation: Observation | None = None) -> tuple[Candidate, ...]:
    """Change candidates ranked (at most 3), or exactly one ask_user / notify_only / close candidate."""
    a = analyze(ctx)
    decision = (observation or a.observation).decision
    if decision == Decision.PROPOSE and a.changes:
        return a.changes
    if decision == Decision.PROPOSE:
        decision = Decision.NOTIFY_ONLY
    return (_single(a, decision),)


def plan(ctx: PlanningContext) -> PlanResult:
    a = analyze(ctx)
    return PlanResult(a.observation, rank(generate(ctx, a.observation), ctx))
