"""What an option costs against the recommended one, from the score components and its own changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta

from scheduler.planning.build import OVERCOMMIT_WEIGHT
from scheduler.planning.model import Candidate, CandidateType, ChangeKind, Reason


def _param(reasons: Iterable[Reason], code: str, key: str) -> int:
    return sum(int(str(r.params.get(key, 0))) for r in reasons if r.code == code)


def _over(c: Candidate) -> int:
    """Minutes over the daily planned-minutes cap (from the overcommitted risk), 0 when under it."""
    return sum(
        int(str(r.params.get("minutes", 0))) - int(str(r.params.get("cap_minutes", 0)))
        for r in c.risks
        if r.code == "overcommitted"
    )


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def tradeoffs(candidate: Candidate, reference: Candidate, titles: Mapping[str, str]) -> tuple[Reason, ...]:
    """The costs of `candidate` against `reference` (the recommended one), most important first; () for
    the reference itself or a non-change candidate. Durations are differences of the two candidates'
    score components (meets_deadline, slack, disruption, preference_fit, earliness) or shifts in the
    candidate's own changes; titles are those of the tasks its changes touch (`titles`: task id ->
    title). No clock times: a card shows those from the changes themselves."""
    c, ref = candidate, reference
    if c.id == ref.id or not (c.is_change and ref.is_change):
        return ()
    out: list[Reason] = []
    later = int(ref.component("slack") - c.component("slack"))  # same reference point: a later end
    if c.component("meets_deadline") < ref.component("meets_deadline"):
        out.append(Reason("misses_deadline", {"late_minutes": -int(c.component("slack"))}))
    elif later > 0:
        out.append(Reason("ends_later", {"minutes": later}))
    ref_changes = set(ref.changes)
    for ch in c.changes:
        if ch in ref_changes or ch.start is None or ch.end is None:
            continue
        title = titles.get(ch.task_id or "", ch.task_id or "")
        if ch.kind == ChangeKind.MOVE_BLOCK and ch.old_start is not None:
            out.append(Reason("moves_block", {"title": title, "minutes": _minutes(ch.start - ch.old_start)}))
        elif ch.kind == ChangeKind.RESIZE_BLOCK and ch.old_end is not None:
            out.append(Reason("shortens_block", {"title": title, "minutes": _minutes(ch.old_end - ch.end)}))
    longer = c.disruption.day_extended_minutes - ref.disruption.day_extended_minutes
    if longer > 0:
        out.append(Reason("day_longer", {"minutes": longer}))
    if c.type == CandidateType.SPLIT_TASK and ref.type != CandidateType.SPLIT_TASK:
        pieces = sum(1 for ch in c.changes if ch.kind == ChangeKind.ADD_BLOCK)
        out.append(Reason("split_into", {"pieces": pieces}))
    quiet = _param(c.risks, "quiet_hours", "minutes") - _param(ref.risks, "quiet_hours", "minutes")
    if quiet > 0:
        out.append(Reason("more_quiet", {"minutes": quiet}))
    # preference_fit counts preferred minutes minus quiet and outside-the-day minutes; what the quiet
    # hours and a longer day do not explain is time lost from the preferred hours
    over = _over(c) - _over(ref)  # minutes over the daily cap, weighed into preference_fit
    if over > 0:
        out.append(Reason("overcommits", {"minutes": _param(c.risks, "overcommitted", "minutes")}))
    fit = int(ref.component("preference_fit") - c.component("preference_fit")) - max(quiet, 0)
    fit -= max(longer, 0) + OVERCOMMIT_WEIGHT * over
    if fit > 0:
        out.append(Reason("less_preferred", {"minutes": fit}))
    if not out:
        starts = int(ref.component("earliness") - c.component("earliness"))
        out.append(Reason("starts_later", {"minutes": starts}) if starts > 0 else Reason("no_extra_cost"))
    return tuple(out)


def with_tradeoffs(ranked: tuple[Candidate, ...], titles: Mapping[str, str]) -> tuple[Candidate, ...]:
    """Each candidate with its costs against the first one (the recommended one)."""
    if not ranked:
        return ranked
    top = ranked[0]
    return tuple(replace(c, tradeoffs=tradeoffs(c, top, titles)) for c in ranked)
