"""observe / generate / rank / texts / base_version behaviour beyond the golden files."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.planning import base_version, generate, observe, plan, rank, texts
from scheduler.planning.catalog import DECISIONS, ISSUES, QUESTIONS, REASONS, RISKS, SUMMARIES
from scheduler.planning.engine import ISSUE_ORDER
from scheduler.planning.model import (
    Block,
    Candidate,
    CandidateType,
    Decision,
    FixedEvent,
    PlanningContext,
    Reason,
    ScoreComponent,
    Target,
    TargetKind,
    TaskInfo,
    TaskStatus,
    UserPrefs,
)
from tests.unit.planning.scenario import build_context, load_golden

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 13, 5, tzinfo=SH)


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 30, h, m, tzinfo=SH)


def base_ctx(**kw: object) -> PlanningContext:
    defaults: dict[str, object] = {
        "now": NOW,
        "user": UserPrefs(preferred=((time(15, 0), time(17, 0)),)),
        "target": Target(TargetKind.TASK, task_id="t1"),
        "tasks": (TaskInfo("t1", "实验报告", 1, 90, deadline=at(18)), TaskInfo("t2", "阅读", 2, 60)),
        "fixed_events": (FixedEvent("f1", "高数课", start=at(14), end=at(15, 40)),),
        "blocks": (Block("b1", "t2", at(16), at(17)),),
    }
    defaults.update(kw)
    return PlanningContext(**defaults)  # type: ignore[arg-type]


def test_rank_orders_by_deadline_then_disruption_then_preference_then_slack_then_earliness() -> None:
    def cand(cid: str, meets: float, dis: float, pref: float, slack: float, early: float) -> Candidate:
        comps = (
            ScoreComponent("meets_deadline", meets, "x"),
            ScoreComponent("disruption", dis, "x"),
            ScoreComponent("preference_fit", pref, "x"),
            ScoreComponent("slack", slack, "x"),
            ScoreComponent("earliness", early, "x"),
        )
        return Candidate(id=cid, type=CandidateType.PLACE_TASK, score=comps)

    cs = [
        cand("late", 0, 0, 99, 99, 0),
        cand("moves", 1, -100_000, 99, 99, 0),
        cand("pref", 1, 0, 10, 0, -500),
        cand("slack", 1, 0, 5, 60, -100),
        cand("early_b", 1, 0, 5, 30, -10),
        cand("early_a", 1, 0, 5, 30, -10),
    ]
    assert [c.id for c in rank(reversed(cs))] == ["pref", "slack", "early_a", "early_b", "moves", "late"]


def test_generate_returns_one_non_change_candidate_for_close_and_ask() -> None:
    done = base_ctx(tasks=(TaskInfo("t1", "实验报告", 1, 90, status=TaskStatus.DONE),))
    (c,) = generate(done)
    assert c.type == CandidateType.CLOSE
    assert not c.is_change
    ask = base_ctx(target=Target(TargetKind.UNFINISHED, choices=("b1", "b9")))
    obs = observe(ask)
    assert obs.decision == Decision.ASK_USER
    (q,) = generate(ask, obs)
    assert q.type == CandidateType.ASK_USER
    assert q.options == ("b1", "b9")
    assert "阅读" in texts.question(q, ask)


def test_observe_metrics_for_a_fragmented_afternoon() -> None:
    obs = observe(base_ctx())
    m = obs.metrics
    # free from 13:05 (now), 15:40 (the class ends) and 17:00 until the 18:00 deadline
    assert (m.needed_minutes, m.minutes_to_deadline, m.free_minutes_before_deadline) == (90, 295, 135)
    assert m.capacity_gap_minutes == -45
    assert not m.target_done
    assert m.effective_quadrant == 1
    assert obs.issues[0].code == "fragmented_time"


def test_candidate_ids_are_deterministic_and_distinct() -> None:
    a, b = plan(base_ctx()), plan(base_ctx())
    assert [c.id for c in a.candidates] == [c.id for c in b.candidates]
    assert len({c.id for c in a.candidates}) == len(a.candidates)


def test_base_version_tracks_what_candidates_depend_on() -> None:
    ctx = base_ctx()
    v = base_version(ctx)
    assert v == base_version(base_ctx())
    moved = replace(ctx.blocks[0], start=ctx.blocks[0].start + timedelta(minutes=15))
    assert base_version(replace(ctx, blocks=(moved,))) != v
    done = replace(ctx.tasks[0], status=TaskStatus.DONE)
    assert base_version(replace(ctx, tasks=(done, ctx.tasks[1]))) != v
    assert base_version(replace(ctx, user=replace(ctx.user, day_end=time(23, 0)))) != v
    far = Block("far", "t2", NOW + timedelta(days=5), NOW + timedelta(days=5, hours=1))
    assert base_version(replace(ctx, blocks=(*ctx.blocks, far))) == v


def test_base_version_ignores_the_background_promotion_of_a_passed_threshold() -> None:
    # t2's threshold passed before `now`: the worker may store quadrant 1 between preview and click
    waiting = TaskInfo("t2", "阅读", 2, 60, urgency_threshold_at=NOW - timedelta(hours=1))
    promoted = replace(waiting, quadrant=1)
    ctx = base_ctx(tasks=(base_ctx().tasks[0], waiting))
    assert base_version(replace(ctx, tasks=(ctx.tasks[0], promoted))) == base_version(ctx)
    # a real change of importance still counts
    demoted = replace(waiting, quadrant=4, urgency_threshold_at=None)
    assert base_version(replace(ctx, tasks=(ctx.tasks[0], demoted))) != base_version(ctx)


def test_every_code_has_zh_and_en_text() -> None:
    for table in (REASONS, RISKS, ISSUES, DECISIONS, QUESTIONS, SUMMARIES):
        for code, by_locale in table.items():
            assert set(by_locale) == {"zh", "en"}, code
            assert not re.search(r"\d{1,2}:\d{2}", by_locale["zh"] + by_locale["en"]), code
    assert set(ISSUE_ORDER) <= set(ISSUES)
    for d in Decision:
        assert d.value in DECISIONS


def test_codes_emitted_by_golden_scenarios_all_have_texts() -> None:
    for _, sc in load_golden():
        ctx = build_context(sc)
        r = plan(ctx)
        for c in r.candidates:
            for reason in c.reasons:
                assert reason.code in REASONS or reason.code in ISSUES, reason.code
            for risk in c.risks:
                assert risk.code in RISKS or risk.code in ISSUES, risk.code
            for comp in c.score:
                assert comp.reason in REASONS, comp.reason


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_reason_and_risk_of_a_golden_candidate_has_a_text(locale: str) -> None:
    """notify_only and ask_user candidates carry issue codes as reasons and risks: they need texts too."""
    for _, sc in load_golden():
        for c in plan(build_context(sc)).candidates:
            for reason in c.reasons:
                assert texts.reason_text(reason, locale) != reason.code, reason.code
            for risk in c.risks:
                assert texts.risk_text(risk, locale) != risk.code, risk.code
            for comp in c.score:
                assert texts.reason_text(Reason(comp.reason), locale) != comp.reason, comp.reason


def test_a_candidate_past_the_day_end_does_not_claim_to_stay_inside_the_day() -> None:
    ctx = build_context(dict(load_golden())["12_day_end_extend"])
    by_type = {c.type: c for c in plan(ctx).candidates}
    extend = by_type[CandidateType.EXTEND_DAY]  # 22:10-22:55 with the day ending at 22:30
    assert extend.component("preference_fit") == -25
    fit = next(s for s in extend.score if s.name == "preference_fit")
    assert fit.reason == "outside_day_window"
    assert texts.reason_text(Reason(fit.reason), "en") == "it runs past your usual day"
    inside = by_type[CandidateType.MAKEUP_BLOCK]  # tomorrow 09:40, inside the day window
    assert next(s for s in inside.score if s.name == "preference_fit").reason == "in_day_window"


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_texts_for_a_split_candidate(locale: str) -> None:
    ctx = base_ctx()
    top = plan(ctx).candidates[0]
    assert top.type == CandidateType.SPLIT_TASK
    summary = texts.candidate_summary(top, ctx, locale)
    assert "13:05–14:00" in summary  # from now (13:05), not the next 15-minute mark
    assert "17:00–17:35" in summary
    assert "实验报告" in summary
    before, after = texts.before_after(top, ctx, locale)
    assert "13:05–14:00" in before
    assert "实验报告" in after
    tokens = texts.grounding_tokens(top, ctx)
    assert {"13:05", "14:00", "17:00", "17:35", "11-30", "2026-11-30", "11月30日"} <= set(tokens)
    explanation = texts.explain(top, ctx, locale)
    assert set(re.findall(r"\d{2}:\d{2}", explanation)) <= set(tokens)
    line = texts.summary(ctx, plan(ctx).observation, top, locale)
    assert summary in line


def test_english_explanation_reads_naturally() -> None:
    ctx = base_ctx(user=UserPrefs(locale="en"))
    top = plan(ctx).candidates[0]
    assert texts.explain(top, ctx) == (
        "Split 实验报告: 13:05–14:00, 17:00–17:35: no free slot is long enough, so it is split into 2 parts; "
        "it ends 25 min before the deadline; nothing else moves. "
        "Note: only 25 min to spare before the deadline."
    )


def test_planning_package_imports_no_io_library() -> None:
    banned = {
        "sqlalchemy",
        "httpx",
        "lark_oapi",
        "openai",
        "os",
        "aiosqlite",
        "aiomysql",
        "requests",
        "socket",
    }
    pkg = Path(__file__).resolve().parents[3] / "scheduler" / "planning"
    for path in pkg.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for n in names:
                assert n.split(".")[0] not in banned, f"{path.name} imports {n}"
        assert "datetime.now" not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_golden_candidate_renders_in_both_locales(locale: str) -> None:
    seen = set()
    for _, sc in load_golden():
        ctx = build_context(sc)
        result = plan(ctx)
        for c in result.candidates:
            seen.add(c.type)
            for text in (
                texts.explain(c, ctx, locale),
                texts.candidate_summary(c, ctx, locale),
                *texts.before_after(c, ctx, locale),
                texts.summary(ctx, result.observation, c, locale),
            ):
                assert text
                assert "{" not in text
                assert "_" not in text, text  # an unrendered code would show its underscores
        for issue in result.observation.issues:
            assert "_" not in texts.issue_text(issue, locale)
    assert seen == set(CandidateType)


def test_extend_day_before_after_shows_the_day_end() -> None:
    sc = dict(load_golden())["12_day_end_extend"]
    ctx = build_context(sc)
    top = plan(ctx).candidates[0]
    assert top.type == CandidateType.EXTEND_DAY
    before, after = texts.before_after(top, ctx, "en")
    assert "day ends 22:30" in before
    assert "day ends 22:55" in after
    assert "22:10–22:55" in after
    assert {"22:30", "22:55", "22:10"} <= set(texts.grounding_tokens(top, ctx))


def test_naive_datetimes_and_unknown_zones_are_rejected_with_a_code() -> None:
    from scheduler.planning.errors import PlanningInputError

    with pytest.raises(PlanningInputError) as err:
        plan(base_ctx(now=datetime(2026, 11, 30, 13, 5)))
    assert err.value.code == "invalid_context"
    with pytest.raises(PlanningInputError):
        plan(base_ctx(user=UserPrefs(timezone="Mars/Olympus")))


def test_grounding_names_the_candidates_days_by_weekday_and_relative_to_now() -> None:
    from scheduler.planning.texts import grounding_tokens

    ctx = base_ctx()  # now: Monday 2026-11-30 13:05
    top = plan(ctx).candidates[0]
    tokens = set(grounding_tokens(top, ctx))
    assert {"Monday", "周一", "today", "今天", "11-30"} <= tokens
    assert not {"tomorrow", "明天", "Tuesday"} & tokens
