"""Which strategies apply to a resolved target, as drafts (place, split, make-up, push, extend, rush)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.planning.build import Draft, add_block, extend_change, move_block, resize_block
from scheduler.planning.clock import to_min
from scheduler.planning.model import CandidateType, Disruption, Reason
from scheduler.planning.placement import MIN_PIECE, Place, Weights, all_places, best_split, choose_places
from scheduler.planning.repair import extend_day, push_successors, rush_merge
from scheduler.planning.target import Resolved
from scheduler.planning.window import Frame, current_day, merge, subtract


@dataclass
class Findings:
    """What the strategies learned, for the observation's issues."""

    any_slot: bool = False  # some contiguous free slot fits the needed minutes
    slot_meets_deadline: bool = False
    split_needed: bool = False
    room_today: bool = True
    pushed: bool = False
    extended: bool = False
    rushed: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _PoolBests:
    """The best start, fragmentation and preference over a pool of places (computed once per pool)."""

    start: int
    fragments: tuple[int, int]
    pref: int

    @staticmethod
    def of(pool: list[Place]) -> _PoolBests | None:
        if not pool:
            return None
        return _PoolBests(
            min(q.start for q in pool), min(q.fragments() for q in pool), max(q.pref for q in pool)
        )


def _place_reasons(p: Place, best: _PoolBests | None) -> tuple[Reason, ...]:
    """Why this place (of the pool `best` summarises) is worth offering."""
    assert best is not None  # p is one of the pool
    out = []
    if p.start == best.start:
        out.append(Reason("earliest_slot"))
    frag = p.fragments()
    if frag[0] == 0 and frag == best.fragments:
        out.append(Reason("least_fragmentation"))
    if p.pref == best.pref and p.pref > 0:
        out.append(Reason("preferred_time", {"minutes": p.pref}))
    return tuple(out)


def _ends(d: Draft) -> int:
    return max(e for _, e in d.work)


def _conflict_drafts(f: Frame, w: Weights, r: Resolved) -> tuple[list[Draft], Findings]:
    """Move the block that overlaps busy time, whole, to free time (its own place counts as free, the busy
    time it overlaps does not)."""
    found = Findings()
    b = r.block
    assert b is not None
    busy = merge([(s, e) for s, e, _ in f.fixed] + [(x.start, x.end) for x in f.blocks if x.id != b.id])
    inside = merge((max(d.start, f.now), min(d.end, f.end)) for d in f.days)
    free = tuple((f.ceil_start(s), e) for s, e in subtract(inside, busy) if f.ceil_start(s) < e)
    places = all_places(f, w, free, b.minutes, r.deadline)
    found.any_slot = bool(places)
    found.slot_meets_deadline = any(p.meets for p in places)
    pool = [p for p in places if p.meets] or places
    clears = Reason("clears_conflict", {"event": r.clash})
    best = _PoolBests.of(pool)
    out = [
        Draft(
            CandidateType.PLACE_TASK,
            (move_block(b, p.start),),
            ((p.start, p.end),),
            (clears, *_place_reasons(p, best)),
        )
        for p, _ in choose_places(places, b.minutes, f.grid.step)
    ]
    return out, found


def drafts(f: Frame, w: Weights, r: Resolved) -> tuple[list[Draft], Findings]:
    if r.conflict:
        return _conflict_drafts(f, w, r)
    found = Findings()
    length, deadline = r.needed, r.deadline
    ctype = CandidateType.MAKEUP_BLOCK if r.unfinished else CandidateType.PLACE_TASK
    places = all_places(f, w, f.free, length, deadline)
    found.any_slot = bool(places)
    found.slot_meets_deadline = any(p.meets for p in places)
    pool = [p for p in places if p.meets] or places
    best = _PoolBests.of(pool)
    out = [
        Draft(ctype, (add_block(r, (p.start, p.end)),), ((p.start, p.end),), _place_reasons(p, best))
        for p, _ in choose_places(places, length, f.grid.step)
    ]
    deadline_passed = deadline is not None and deadline <= f.now
    if not r.unfinished and not found.slot_meets_deadline and length >= 2 * MIN_PIECE and not deadline_passed:
        end_by = min(deadline, f.end) if deadline is not None else f.end
        sp = best_split(f, w, f.free, length, end_by)
        if sp is not None:
            found.split_needed = True
            out.append(
                Draft(
                    CandidateType.SPLIT_TASK,
                    tuple(add_block(r, p) for p in sp.pieces),
                    sp.pieces,
                    (Reason("split_needed", {"pieces": len(sp.pieces)}),),
                )
            )
    day = current_day(f)
    if day is None:
        return out, found
    if r.unfinished:
        assert r.block is not None
        found.room_today = any(day.start <= p.start and p.end <= day.end for p in places)
        push = push_successors(f, day, r.block, length)
        if push is not None:
            found.pushed = True
            risks = [
                Reason("successor_deadline", {"title": f.tasks[b.task_id].title})
                for b, s in push.moves
                if b.task_id in f.tasks
                and (dl := f.tasks[b.task_id].deadline) is not None
                and s + b.minutes > to_min(dl)
            ]
            out.append(
                Draft(
                    CandidateType.PUSH_SUCCESSORS,
                    (add_block(r, push.makeup), *(move_block(b, s) for b, s in push.moves)),
                    (push.makeup,),
                    (Reason("follows_immediately"), Reason("moves_blocks", {"count": len(push.moves)})),
                    (
                        Reason("blocks_moved", {"count": len(push.moves), "minutes": push.minutes_moved}),
                        *risks,
                    ),
                    Disruption(len(push.moves), push.minutes_moved),
                )
            )
    # a longer day is offered only when it meets a deadline that nothing else meets (without a deadline,
    # or once it has passed: only when nothing else places the work); a late evening that misses the
    # deadline anyway helps no one, and tomorrow morning is the kinder late option
    due = deadline if deadline is not None and not deadline_passed else None
    if not out or (due is not None and not any(_ends(d) <= due for d in out)):
        ext = extend_day(f, day, r.block, length)
        if ext is not None and (due is None or ext.new_end <= due):
            found.extended = True
            out.append(
                Draft(
                    CandidateType.EXTEND_DAY,
                    (extend_change(f, ext.day, ext.new_end), add_block(r, ext.makeup)),
                    (ext.makeup,),
                    (Reason("extends_day", {"minutes": ext.minutes}),),
                    (Reason("day_extended", {"minutes": ext.minutes}),),
                    Disruption(day_extended_minutes=ext.minutes),
                )
            )
    if r.unfinished and not out:
        rush = rush_merge(f, day, r.block, length)
        if rush is not None:
            found.rushed = True
            b = rush.block
            given = b.end - rush.new_end
            risks = [Reason("rush_merge", {"title": b.title, "minutes": given})]
            if given < length:
                risks.append(Reason("partial_capacity", {"missing_minutes": length - given}))
            out.append(
                Draft(
                    CandidateType.RUSH_MERGE,
                    (resize_block(b, b.start, rush.new_end), add_block(r, (rush.new_end, b.end))),
                    ((rush.new_end, b.end),),
                    (Reason("rush_merge", {"title": b.title, "minutes": given}),),
                    tuple(risks),
                    Disruption(1, given),
                    "full" if given >= length else "partial",
                )
            )
    return out, found
