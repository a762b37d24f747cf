"""Turn placements and repairs into validated Candidate objects: changes, id, score, reasons, risks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from scheduler.planning.clock import from_min, local_dt
from scheduler.planning.model import (
    Candidate,
    CandidateType,
    Change,
    ChangeKind,
    Disruption,
    Reason,
    ScoreComponent,
)
from scheduler.planning.placement import Weights
from scheduler.planning.target import Resolved
from scheduler.planning.window import BlockM, DaySpan, Frame, Span, merge, overlap

# strategy order inside "least disruption": adding into free time < moving the user's blocks <
# extending the day < shrinking another block (the rush merge is the last resort)
TIER = {
    CandidateType.PLACE_TASK: 0,
    CandidateType.SPLIT_TASK: 0,
    CandidateType.MAKEUP_BLOCK: 0,
    CandidateType.PUSH_SUCCESSORS: 1,
    CandidateType.EXTEND_DAY: 2,
    CandidateType.RUSH_MERGE: 3,
}
TIGHT_SLACK = 30


def candidate_id(ctype: str, changes: Sequence[Change], extra: str = "") -> str:
    parts = [ctype, extra]
    for c in changes:
        parts.append(
            ",".join(
                str(x)
                for x in (
                    c.kind,
                    c.block_id,
                    c.task_id,
                    c.start and c.start.isoformat(),
                    c.end and c.end.isoformat(),
                    c.old_start and c.old_start.isoformat(),
                    c.old_end and c.old_end.isoformat(),
                    c.makeup_for,
                    c.day,
                    c.old_day_end,
                    c.new_day_end,
                )
            )
        )
    return "c" + hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:11]


def add_block(r: Resolved, span: Span) -> Change:
    return Change(
        ChangeKind.ADD_BLOCK,
        task_id=r.task_id,
        start=from_min(span[0]),
        end=from_min(span[1]),
        makeup_for=r.block.id if r.block and r.unfinished else None,
    )


def move_block(b: BlockM, start: int) -> Change:
    return Change(
        ChangeKind.MOVE_BLOCK,
        block_id=b.id,
        task_id=b.task_id,
        start=from_min(start),
        end=from_min(start + b.minutes),
        old_start=from_min(b.start),
        old_end=from_min(b.end),
    )


def resize_block(b: BlockM, start: int, end: int) -> Change:
    return Change(
        ChangeKind.RESIZE_BLOCK,
        block_id=b.id,
        task_id=b.task_id,
        start=from_min(start),
        end=from_min(end),
        old_start=from_min(b.start),
        old_end=from_min(b.end),
    )


def extend_change(f: Frame, day: DaySpan, new_end: int) -> Change:
    return Change(
        ChangeKind.EXTEND_DAY,
        day=day.day,
        old_day_end=local_dt(day.end, f.tz).time(),
        new_day_end=local_dt(new_end, f.tz).time(),
    )


@dataclass(frozen=True)
class Draft:
    """What a strategy produced, before scoring."""

    type: CandidateType
    changes: tuple[Change, ...]
    work: tuple[Span, ...]  # the spans that give the target its minutes
    reasons: tuple[Reason, ...] = ()
    risks: tuple[Reason, ...] = ()
    disruption: Disruption = field(default_factory=Disruption)
    capacity_fit: str = "full"


# Each minute over the daily cap outweighs any preferred-hours fit: rather a day under it than more packed in.
OVERCOMMIT_WEIGHT = 1000


def overcommitted(d: Draft, f: Frame) -> int:
    """The planned minutes of the fullest local day the draft adds work to, when that is over the user's
    daily cap (0 otherwise): the day's open blocks plus the new work."""
    worst = 0
    for day in f.days:
        lo, hi = day.midnight - 1440, day.midnight
        added = sum(overlap(s, e, ((lo, hi),)) for s, e in d.work)
        if not added:
            continue
        # moved blocks count where they were: a move within the day changes no total
        kept = sum(overlap(b.start, b.end, ((lo, hi),)) for b in f.blocks if b.task_open)
        worst = max(worst, kept + added)
    return worst if worst > f.max_planned else 0


def finish(d: Draft, f: Frame, w: Weights, r: Resolved) -> Candidate:
    """Score a draft; each score component carries the reason code that explains it."""
    end = max(e for _, e in d.work)
    start = min(s for s, _ in d.work)
    meets = r.deadline is None or end <= r.deadline
    pref = sum(w.fit(s, e) for s, e in d.work)
    slack = (r.deadline if r.deadline is not None else f.end) - end
    dis = d.disruption
    cost = (
        TIER[d.type] * 100_000_000 + dis.blocks_moved * 100_000 + dis.minutes_moved + dis.day_extended_minutes
    )
    quiet = sum(overlap(s, e, f.quiet) for s, e in d.work)
    preferred = sum(overlap(s, e, f.preferred) for s, e in d.work)
    risks = list(d.risks)
    if r.deadline is not None and r.deadline <= f.now:
        risks.insert(0, Reason("deadline_passed", {"late_minutes": end - r.deadline}))
    elif not meets:
        risks.insert(0, Reason("deadline_missed", {"late_minutes": end - (r.deadline or end)}))
    elif r.deadline is not None and slack < TIGHT_SLACK:
        risks.append(Reason("tight_slack", {"minutes": slack}))
    if quiet:
        risks.append(Reason("quiet_hours", {"minutes": quiet}))
    planned = overcommitted(d, f)
    if planned:
        risks.append(Reason("overcommitted", {"minutes": planned, "cap_minutes": f.max_planned}))
        pref -= OVERCOMMIT_WEIGHT * (planned - f.max_planned)  # a less loaded day ranks first
    if meets and r.deadline is not None:
        deadline_reason = Reason("meets_deadline", {"slack_minutes": slack})
    elif r.deadline is None:
        deadline_reason = Reason("no_deadline")
    else:
        deadline_reason = Reason("misses_deadline", {"late_minutes": end - r.deadline})
    if d.type == CandidateType.EXTEND_DAY:
        dis_reason = "extends_day"
    elif d.type == CandidateType.RUSH_MERGE:
        dis_reason = "rush_merge"
    else:
        dis_reason = "moves_blocks" if dis.blocks_moved else "no_disruption"
    days = merge((day.start, day.end) for day in f.days)
    outside = sum(e - s - overlap(s, e, days) for s, e in d.work)  # e.g. the time an extend_day adds
    if quiet:
        pref_reason = "quiet_hours"
    elif preferred:
        pref_reason = "preferred_time"
    else:
        pref_reason = "outside_day_window" if outside else "in_day_window"
    score = (
        ScoreComponent("meets_deadline", 1.0 if meets else 0.0, deadline_reason.code),
        ScoreComponent("disruption", -float(cost), dis_reason),
        ScoreComponent("preference_fit", float(pref), pref_reason),
        ScoreComponent("slack", float(slack), "slack"),
        ScoreComponent("earliness", -float(start - f.now), "starts_in"),
    )
    reasons = [*d.reasons, deadline_reason]
    if r.overrun > 1.0:  # the time is the estimate scaled by what the user's reports taught: say so
        reasons.append(Reason("overrun_scaled", {"factor": f"{r.overrun:.1f}", "minutes": r.estimated}))
    if preferred and not any(x.code == "preferred_time" for x in reasons):
        reasons.append(Reason("preferred_time", {"minutes": preferred}))
    if dis_reason == "no_disruption":
        reasons.append(Reason("no_disruption"))
    if not meets or d.type == CandidateType.RUSH_MERGE or d.capacity_fit != "full":
        level = "high"
    elif (
        quiet
        or dis.blocks_moved
        or d.type == CandidateType.EXTEND_DAY
        or any(x.code in ("tight_slack", "overcommitted") for x in risks)
    ):
        level = "medium"
    else:
        level = "low"
    return Candidate(
        id=candidate_id(d.type, d.changes),
        type=d.type,
        changes=d.changes,
        score=score,
        reasons=tuple(reasons),
        risks=tuple(risks),
        disruption=dis,
        capacity_fit=d.capacity_fit,
        risk_level=level,
    )
