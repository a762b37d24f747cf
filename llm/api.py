"""The choose-and-explain contract between the services and the LLM (or its fallback)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CandidateView:
    """What the model may see of one candidate: never raw scores."""

    id: str
    type: str  # a CandidateType value
    summary: str  # one line in the user's locale, e.g. "Add 实验报告 14:00-15:30"
    before: str  # the affected part of the day before the change
    after: str  # ... and after
    capacity_fit: str  # full | partial | none
    risk_level: str  # low | medium | high
    # every clock time ("14:00") and date ("11-30", "2026-11-30") the candidate contains, in the
    # user's time zone: an explanation may mention only these (grounding)
    grounding: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChoiceRequest:
    trigger_type: str  # worker_due_job | admin_trigger | dry_run | user_feedback
    decision: str  # propose | ask_user | notify_only
    locale: str  # zh | en
    timezone: str
    window: str  # e.g. "2026-11-30 09:00 - 2026-12-01 09:00 (Asia/Shanghai)"
    target_title: str  # user data: fenced in the prompt
    candidates: tuple[CandidateView, ...]
    # the deterministic ranker's choice and template texts: used whenever the model is not
    fallback_candidate_id: str
    fallback_explanation: str
    fallback_summary: str
    user_text: str = ""  # the user's own words (feedback), user data: fenced in the prompt
    fallback_question: str = ""  # for ask_user decisions


@dataclass(frozen=True)
class Choice:
    selected_candidate_id: str
    explanation: str
    notification_summary: str
    ask_user_question: str
    source: str  # llm | fallback
    fallback_reason: str | None = None  # a stable code (llm.reasons.Reason): not_configured, timeout, ...
    model: str | None = None
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Chooser(Protocol):
    """Chooses one candidate and explains it. Never raises: any failure returns the fallback choice."""

    async def choose(self, request: ChoiceRequest) -> Choice: ...


class FallbackChooser:
    """The deterministic path: the ranker's top candidate and the template texts."""

    def __init__(self, reason: str = "not_configured") -> None:
        self._reason = reason

    async def choose(self, request: ChoiceRequest) -> Choice:
        return fallback_choice(request, self._reason)


def fallback_choice(request: ChoiceRequest, reason: str, latency_ms: int = 0) -> Choice:
    return Choice(
        selected_candidate_id=request.fallback_candidate_id,
        explanation=request.fallback_explanation,
        notification_summary=request.fallback_summary,
        ask_user_question=request.fallback_question,
        source="fallback",
        fallback_reason=reason,
        latency_ms=latency_ms,
    )
