"""Golden scenarios: context in (tests/golden/*.yaml), decision, issues and candidate times out."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.planning import generate, observe, plan, texts
from tests.unit.planning.scenario import build_context, load_golden, render

GOLDEN = load_golden()
CLOCK = re.compile(r"\b\d{2}:\d{2}\b")


def test_there_are_enough_golden_scenarios() -> None:
    assert len(GOLDEN) >= 40


@pytest.mark.parametrize(("name", "sc"), GOLDEN, ids=[n for n, _ in GOLDEN])
def test_golden(name: str, sc: dict[str, Any]) -> None:
    ctx = build_context(sc)
    tz = ZoneInfo(ctx.user.timezone)
    result = plan(ctx)
    exp = sc["expect"]
    assert result.observation.decision.value == exp["decision"]
    assert [i.code for i in result.observation.issues] == exp["issues"]
    assert [render(c, tz) for c in result.candidates] == exp["candidates"]
    assert result.candidates == generate(ctx, observe(ctx))
    if "planned_at" in exp:  # a job due outside the day window is planned when it opens
        assert f"{ctx.now.astimezone(tz):%Y-%m-%d %H:%M}" == exp["planned_at"]
    if "all_late" in exp:  # no option meets the deadline: the card says so and offers the late actions
        meets = [s.value for c in result.candidates for s in c.score if s.name == "meets_deadline"]
        assert (not any(meets)) == exp["all_late"]
    for key, value in sc.get("metrics", {}).items():
        assert getattr(result.observation.metrics, key) == value, key
    top = result.candidates[0]
    for want_key, want in sc.get("text", {}).items():
        if want_key == "summary":
            assert texts.candidate_summary(top, ctx) == want
    # every clock time in the fallback texts comes from the candidate itself
    for c in result.candidates:
        tokens = set(texts.grounding_tokens(c, ctx))
        shown = texts.explain(c, ctx) + " ".join(texts.before_after(c, ctx)) + texts.candidate_summary(c, ctx)
        shown += texts.tradeoff_line(c, ctx)
        assert set(CLOCK.findall(shown)) <= tokens
