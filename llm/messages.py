"""The chat messages for one choose-and-explain call, rendered from the versioned prompt files."""

from __future__ import annotations

import json
from collections.abc import Sequence

from llm.api import CandidateView, ChoiceRequest
from prompts.render import fence_data, render

PROMPT_VERSION = "choose_candidate.v1"
MAX_EXPLANATION = 280
MAX_SUMMARY = 80
MAX_QUESTION = 200
_NONE = {"zh": "（无）", "en": "(none)"}
# Per-field caps in approximate tokens (a non-ASCII character costs 1, an ASCII one 0.3): they keep a
# three-candidate prompt under 1,500 tokens even with every field full of common CJK text; real summaries and
# before/after lines are far shorter.
TITLE_COST = 60
USER_TEXT_COST = 120
SUMMARY_COST = 60
BEFORE_AFTER_COST = 80


def _locale(request: ChoiceRequest) -> str:
    return "en" if request.locale == "en" else "zh"


def _clip(text: str, budget: int) -> str:
    """Fenced data cut to an approximate token budget (ASCII is cheap, CJK about a token a character)."""
    text = fence_data(text, limit=budget * 4)
    cost = 0.0
    for i, ch in enumerate(text):
        cost += 0.3 if ch.isascii() else 1.0
        if cost > budget:
            return text[:i].rstrip() + "…"
    return text


def candidate_lines(candidates: Sequence[CandidateView]) -> str:
    """One compact JSON object per candidate: what the model may see, never scores or grounding lists."""
    lines = []
    for c in candidates:
        view = {
            "id": fence_data(c.id, 100),
            "type": fence_data(c.type, 32),
            "summary": _clip(c.summary, SUMMARY_COST),
            "before": _clip(c.before, BEFORE_AFTER_COST),
            "after": _clip(c.after, BEFORE_AFTER_COST),
            "capacity_fit": fence_data(c.capacity_fit, 16),
            "risk_level": fence_data(c.risk_level, 16),
        }
        lines.append(json.dumps(view, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines)


def system_prompt(request: ChoiceRequest) -> str:
    return render(
        f"{PROMPT_VERSION}.system.{_locale(request)}",
        max_explanation=str(MAX_EXPLANATION),
        max_summary=str(MAX_SUMMARY),
    )


def user_prompt(request: ChoiceRequest, candidates: Sequence[CandidateView]) -> str:
    loc = _locale(request)
    return render(
        f"{PROMPT_VERSION}.user.{loc}",
        trigger=fence_data(request.trigger_type, 32),
        decision=fence_data(request.decision, 32),
        window=fence_data(request.window, 120),
        target_title=_clip(request.target_title, TITLE_COST) or _NONE[loc],
        user_text=_clip(request.user_text, USER_TEXT_COST) or _NONE[loc],
        candidates=candidate_lines(candidates),
    )


def reask_prompt(request: ChoiceRequest, problems: Sequence[str]) -> str:
    # The problems are our own validator's words, but they may quote model output: fence them too.
    text = fence_data("; ".join(problems), 400)
    return render(f"{PROMPT_VERSION}.reask.{_locale(request)}", problems=text)


def response_schema(candidates: Sequence[CandidateView]) -> dict[str, object]:
    """The strict JSON schema of the answer; the id is an enum of the ids the decision allows."""
    text = {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["selected_candidate_id", "explanation", "notification_summary", "ask_user_question"],
        "properties": {
            "selected_candidate_id": {"type": "string", "enum": [c.id for c in candidates]},
            "explanation": text,
            "notification_summary": text,
            "ask_user_question": text,
        },
    }
