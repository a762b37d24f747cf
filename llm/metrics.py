"""Prometheus counters for the choose-and-explain path, fed from the Choice the preview records."""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from llm.api import Choice, ChoiceRequest, Chooser

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


class LLMMetrics:
    """The llm metrics, registered once on the given registry (the process default when none)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.choices = Counter(
            "smartflow_llm_choices",
            "Choices made, by path (llm or fallback) and fallback reason ('' for llm).",
            ["source", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "smartflow_llm_choice_seconds",
            "Time to a choice, by path.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "smartflow_llm_tokens",
            "Tokens spent on choices, by kind (prompt or completion).",
            ["kind"],
            registry=registry,
        )

    def record(self, choice: Choice) -> None:
        self.choices.labels(source=choice.source, reason=choice.fallback_reason or "").inc()
        self.latency.labels(source=choice.source).observe(choice.latency_ms / 1000)
        if choice.prompt_tokens:
            self.tokens.labels(kind="prompt").inc(choice.prompt_tokens)
        if choice.completion_tokens:
            self.tokens.labels(kind="completion").inc(choice.completion_tokens)


@cache
def process_metrics() -> LLMMetrics:
    """The process's llm metrics on the default registry (registered once, however many choosers)."""
    return LLMMetrics()


class MeteredChooser:
    """A Chooser that records every choice of the one it wraps."""

    def __init__(self, inner: Chooser, metrics: LLMMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def choose(self, request: ChoiceRequest) -> Choice:
        choice = await self._inner.choose(request)
        self._metrics.record(choice)
        return choice

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()
