"""Runs requests through a chooser and reports agreement, grounding, fallbacks, latency and tokens."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from llm.api import Choice, ChoiceRequest, Chooser
from llm.reasons import Reason
from llm.validate import Answer, check_answer

# Fallbacks before any answer arrived: the model was not reached (or is not a chat completions API).
NO_ANSWER = frozenset(
    {Reason.TIMEOUT, Reason.CONNECTION_ERROR, Reason.HTTP_ERROR, Reason.RATE_LIMITED, Reason.BAD_RESPONSE}
)


@dataclass(frozen=True)
class EvalReport:
    total: int
    llm: int  # answered by the model
    agreements: int  # model answers that chose the deterministic ranker's top candidate
    grounding_failures: int  # answers that named a time or date the chosen candidate lacks
    fallback_reasons: tuple[tuple[str, int], ...]  # most frequent first
    latency_p50_ms: int
    latency_p95_ms: int
    tokens_per_preview: float

    @property
    def fallbacks(self) -> int:
        return self.total - self.llm

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.total if self.total else 0.0

    @property
    def model_unreachable(self) -> bool:
        """Every choice fell back before the model answered: the report measured nothing of the model."""
        return (
            self.total > 0 and self.llm == 0 and all(code in NO_ANSWER for code, _ in self.fallback_reasons)
        )

    @property
    def agreement_rate(self) -> float:
        return self.agreements / self.llm if self.llm else 0.0


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _still_ungrounded(choice: Choice, request: ChoiceRequest) -> bool:
    # Re-checks what the model's answers say, so a hole in the chooser's own validation shows up here.
    answer = Answer(
        choice.selected_candidate_id,
        choice.explanation,
        choice.notification_summary,
        choice.ask_user_question,
    )
    return any(p.code == Reason.UNGROUNDED for p in check_answer(answer, request))


async def evaluate(chooser: Chooser, requests: Sequence[ChoiceRequest]) -> EvalReport:
    """One choice per request, in order (so latencies are those of a lone caller)."""
    choices = [await chooser.choose(request) for request in requests]
    llm = [(c, r) for c, r in zip(choices, requests, strict=True) if c.source == "llm"]
    reasons = Counter(c.fallback_reason or "unknown" for c in choices if c.source != "llm")
    grounding = sum(1 for c in choices if c.fallback_reason == Reason.UNGROUNDED)
    grounding += sum(1 for c, r in llm if _still_ungrounded(c, r))
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in choices)
    latencies = [c.latency_ms for c in choices]
    return EvalReport(
        total=len(choices),
        llm=len(llm),
        agreements=sum(1 for c, r in llm if c.selected_candidate_id == r.fallback_candidate_id),
        grounding_failures=grounding,
        fallback_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        tokens_per_preview=tokens / len(choices) if choices else 0.0,
    )


def format_report(report: EvalReport) -> str:
    reasons = ", ".join(f"{code} {n}" for code, n in report.fallback_reasons) or "none"
    return "\n".join(
        [
            f"previews:            {report.total}",
            f"answered by model:   {report.llm}",
            f"agreement with top:  {report.agreements}/{report.llm} ({report.agreement_rate:.0%})",
            f"grounding failures:  {report.grounding_failures}",
            f"fallback rate:       {report.fallbacks}/{report.total} ({report.fallback_rate:.0%})",
            f"fallback reasons:    {reasons}",
            f"latency p50 / p95:   {report.latency_p50_ms} ms / {report.latency_p95_ms} ms",
            f"tokens per preview:  {report.tokens_per_preview:.0f}",
        ]
    )
