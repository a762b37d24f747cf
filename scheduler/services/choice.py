"""A planning result -> the llm ChoiceRequest (texts in the user's locale), and checking the answer."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from llm.api import CandidateView, Choice, ChoiceRequest, fallback_choice
from scheduler.planning import texts
from scheduler.planning.clock import zone
from scheduler.planning.model import (
    CHANGE_TYPES,
    Candidate,
    CandidateType,
    Decision,
    Observation,
    PlanningContext,
    PlanResult,
)
from scheduler.services.codec import encode_candidate

log = logging.getLogger(__name__)

INVALID_CHOICE = "invalid_choice"  # llm.reasons.Reason.INVALID_CHOICE

# Short option names for cards and the dry run; the bot may show its own.
TYPE_LABELS: dict[str, tuple[str, str]] = {
    CandidateType.PLACE_TASK: ("安排时间", "Schedule it"),
    CandidateType.SPLIT_TASK: ("分段完成", "Split it"),
    CandidateType.MAKEUP_BLOCK: ("补做", "Make it up"),
    CandidateType.PUSH_SUCCESSORS: ("后续顺延", "Shift later blocks"),
    CandidateType.EXTEND_DAY: ("延长今天", "Extend today"),
    CandidateType.RUSH_MERGE: ("紧急合并", "Rush merge"),
    CandidateType.ASK_USER: ("需要确认", "Question"),
    CandidateType.NOTIFY_ONLY: ("提醒", "Heads-up"),
    CandidateType.CLOSE: ("无需调整", "Nothing to do"),
}


def locale_of(ctx: PlanningContext) -> str:
    return "en" if ctx.user.locale.lower().startswith("en") else "zh"


def type_label(candidate_type: str, locale: str) -> str:
    zh, en = TYPE_LABELS.get(candidate_type, (candidate_type, candidate_type))
    return en if locale == "en" else zh


@dataclass(frozen=True)
class CandidateTexts:
    summary: str
    before: str
    after: str
    label: str


def candidate_texts(c: Candidate, ctx: PlanningContext) -> CandidateTexts:
    loc = locale_of(ctx)
    if c.is_change:
        before, after = texts.before_after(c, ctx, loc)
    else:
        before = after = ""
    return CandidateTexts(
        summary=texts.candidate_summary(c, ctx, loc),
        before=before,
        after=after,
        label=type_label(c.type, loc),
    )


def choice_labels(c: Candidate, ctx: PlanningContext) -> list[dict[str, str]]:
    """The buttons of an ask_user candidate: each option (a block id) with its title and times."""
    loc = locale_of(ctx)
    return [{"block_id": o, "label": texts.option_label(o, ctx, loc)} for o in c.options]


def window_text(ctx: PlanningContext) -> str:
    tz = zone(ctx.user.timezone)
    start = ctx.now.astimezone(tz)
    end = (ctx.now + timedelta(hours=ctx.horizon_hours)).astimezone(tz)
    return f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} ({ctx.user.timezone})"


def target_title(ctx: PlanningContext) -> str:
    """The title of the target task (or of the unfinished block's task)."""
    task_id = ctx.target.task_id
    if task_id is None and ctx.target.block_id is not None:
        task_id = next((b.task_id for b in ctx.blocks if b.id == ctx.target.block_id), None)
    return next((t.title for t in ctx.tasks if t.id == task_id), "")


def all_texts(result: PlanResult, ctx: PlanningContext) -> dict[str, CandidateTexts]:
    """The texts of every candidate, by id: computed once, passed to build_request and encode_candidates."""
    return {c.id: candidate_texts(c, ctx) for c in result.candidates}


def build_request(
    trigger_type: str,
    result: PlanResult,
    ctx: PlanningContext,
    user_text: str = "",
    texts_by_id: dict[str, CandidateTexts] | None = None,
) -> ChoiceRequest:
    """What the chooser sees: every candidate's texts (never raw scores) and the deterministic fallback."""
    top = result.top
    if top is None:
        raise ValueError("a plan without candidates cannot be chosen from")
    loc = locale_of(ctx)
    texts_by_id = texts_by_id or all_texts(result, ctx)
    views = []
    for c in result.candidates:
        t = texts_by_id[c.id]
        views.append(
            CandidateView(
                id=c.id,
                type=c.type.value,
                summary=t.summary,
                before=t.before,
                after=t.after,
                capacity_fit=c.capacity_fit,
                risk_level=c.risk_level,
                grounding=texts.grounding_tokens(c, ctx),
            )
        )
    return ChoiceRequest(
        trigger_type=trigger_type,
        decision=result.observation.decision.value,
        locale=loc,
        timezone=ctx.user.timezone,
        window=window_text(ctx),
        target_title=target_title(ctx),
        candidates=tuple(views),
        fallback_candidate_id=top.id,
        fallback_explanation=texts.explain(top, ctx, loc),
        fallback_summary=texts.summary(ctx, result.observation, top, loc),
        user_text=user_text,
        fallback_question=texts.question(top, ctx, loc) if top.type == CandidateType.ASK_USER else "",
    )


def _compatible(request: ChoiceRequest, candidate_type: str) -> bool:
    if request.decision == Decision.PROPOSE:
        return candidate_type in CHANGE_TYPES
    return candidate_type == request.decision


def checked(request: ChoiceRequest, choice: Choice) -> Choice:
    """The chooser's answer if it names a live candidate the decision allows; otherwise the fallback
    (keeping the model's bookkeeping), whatever the chooser claims to have validated."""
    by_id = {c.id: c for c in request.candidates}
    chosen = by_id.get(choice.selected_candidate_id)
    if chosen is not None and _compatible(request, chosen.type):
        return choice
    log.warning("chooser returned unusable candidate id %r; using the fallback", choice.selected_candidate_id)
    return dataclasses.replace(
        fallback_choice(request, INVALID_CHOICE, choice.latency_ms),
        model=choice.model,
        prompt_tokens=choice.prompt_tokens,
        completion_tokens=choice.completion_tokens,
    )


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def encode_candidates(
    result: PlanResult, ctx: PlanningContext, texts_by_id: dict[str, CandidateTexts] | None = None
) -> list[dict[str, Any]]:
    """Every candidate in its stored form, with its texts in the user's locale (and ask_user buttons)."""
    texts_by_id = texts_by_id or all_texts(result, ctx)
    out = []
    for c in result.candidates:
        t = texts_by_id[c.id]
        item = encode_candidate(c, summary=t.summary, before=t.before, after=t.after, label=t.label)
        if c.options:
            item["choices"] = choice_labels(c, ctx)
        out.append(item)
    return out


def issues_json(obs: Observation) -> list[dict[str, Any]]:
    return [{"code": i.code, "params": json_safe(dict(i.params))} for i in obs.issues]
