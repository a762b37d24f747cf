"""What each option costs against the recommended one: codes, durations from the candidates, zh and en."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest

from scheduler.planning import plan, texts, tradeoffs
from scheduler.planning.catalog import TRADEOFFS
from scheduler.planning.model import Candidate, CandidateType, ChangeKind, PlanningContext
from tests.unit.planning.scenario import build_context, load_golden

GOLDEN = dict(load_golden())
CLOCK = re.compile(r"\d{1,2}:\d{2}")


def planned(name: str) -> tuple[PlanningContext, tuple[Candidate, ...]]:
    ctx = build_context(GOLDEN[name])
    return ctx, plan(ctx).candidates


def work_end(c: Candidate) -> datetime:
    return max(ch.end for ch in c.changes if ch.kind == ChangeKind.ADD_BLOCK and ch.end)


def minutes(a: datetime, b: datetime) -> int:
    return int((b - a).total_seconds() // 60)


def test_the_recommended_option_costs_nothing_and_every_other_one_says_what_it_costs() -> None:
    for name in GOLDEN:
        ctx, cands = planned(name)
        if not cands[0].is_change:
            assert all(c.tradeoffs == () for c in cands)
            continue
        assert cands[0].tradeoffs == (), name
        assert texts.tradeoff_line(cands[0], ctx) == ""
        for c in cands[1:]:
            assert c.tradeoffs, (name, c.id)
            assert c.tradeoffs == tradeoffs(c, cands[0], {t.id: t.title for t in ctx.tasks})


def test_a_later_option_says_how_much_later_it_ends_from_its_own_times() -> None:
    ctx, (top, second, third) = planned("01_place_empty_day")
    assert texts.tradeoff_line(second, ctx, "en") == "ends 1 h later"
    assert texts.tradeoff_line(second, ctx, "zh") == "晚1小时完成"
    late = third.tradeoffs[0]
    assert late.code == "ends_later"
    assert late.params["minutes"] == minutes(work_end(top), work_end(third))


def test_an_option_that_misses_the_deadline_says_by_how_much() -> None:
    ctx, (top, tomorrow, _) = planned("12_day_end_extend")
    assert top.type == CandidateType.EXTEND_DAY
    (task,) = (t for t in ctx.tasks if t.id == "t1")
    assert task.deadline is not None
    late = minutes(task.deadline, work_end(tomorrow))
    assert tomorrow.tradeoffs[0].code == "misses_deadline"
    assert tomorrow.tradeoffs[0].params["late_minutes"] == late == 85
    assert texts.tradeoff_line(tomorrow, ctx, "en") == "misses the deadline by 1 h 25 min"
    assert texts.tradeoff_line(tomorrow, ctx, "zh") == "会比截止晚1小时25分钟"


def test_pushing_blocks_names_each_moved_block_and_its_shift() -> None:
    ctx, cands = planned("10_unfinished_with_successors")
    push = next(c for c in cands if c.type == CandidateType.PUSH_SUCCESSORS)
    shifts = [
        minutes(ch.old_start, ch.start)
        for ch in push.changes
        if ch.kind == ChangeKind.MOVE_BLOCK and ch.start and ch.old_start
    ]
    assert [(t.code, t.params["minutes"]) for t in push.tradeoffs] == [("moves_block", s) for s in shifts]
    assert texts.tradeoff_line(push, ctx, "en") == "moves “阅读” by 30 min; moves “背单词” by 30 min"
    assert texts.tradeoff_line(push, ctx, "zh") == "「阅读」要挪后30分钟；「背单词」要挪后30分钟"


def test_against_another_reference_a_longer_day_says_how_much_longer() -> None:
    """A model may choose another option: the costs are recomputed against the one it chose."""
    ctx, (extend, tomorrow, _) = planned("12_day_end_extend")
    line = texts.tradeoff_line(extend, ctx, "en", reference=tomorrow)
    assert line == f"your day runs {extend.disruption.day_extended_minutes} min longer"
    assert texts.tradeoff_line(extend, ctx, "zh", reference=tomorrow) == "今天要多忙25分钟"
    assert texts.tradeoff_line(tomorrow, ctx, "en", reference=tomorrow) == ""


def test_less_preferred_time_is_the_preference_difference() -> None:
    ctx, (top, earliest, _) = planned("02_place_preferred_time")
    lost = top.component("preference_fit") - earliest.component("preference_fit")
    assert [(t.code, t.params["minutes"]) for t in earliest.tradeoffs] == [("less_preferred", lost)]
    assert texts.tradeoff_line(earliest, ctx, "en") == "1 h 30 min less in your preferred hours"


def test_tradeoffs_are_not_part_of_a_candidates_identity() -> None:
    """The stored form of a candidate (without them) still equals the planned one."""
    _, (_, second, _) = planned("01_place_empty_day")
    assert second.tradeoffs
    assert replace(second, tradeoffs=()) == second


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_tradeoff_renders_without_clock_times_or_codes(locale: str) -> None:
    for name in GOLDEN:
        ctx, cands = planned(name)
        for c in cands:
            for ref in cands:
                text = texts.tradeoff_line(c, ctx, locale, reference=ref)
                assert "{" not in text
                assert "_" not in text, text
                assert not CLOCK.search(text), text  # times come from the changes, never from here
    for code, table in TRADEOFFS.items():
        assert set(table) == {"zh", "en"}, code
