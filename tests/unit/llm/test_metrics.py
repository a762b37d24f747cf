"""The /metrics counters fed from choices."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from llm.api import FallbackChooser
from llm.client import LLMChooser, LLMConfig
from llm.metrics import LLMMetrics, MeteredChooser
from tests.fakes.fake_llm import FakeLLM, answer
from tests.unit.llm.conftest import zh_request


async def test_metered_chooser_counts_paths_reasons_and_tokens(fake_llm: FakeLLM) -> None:
    registry = CollectorRegistry()
    metrics = LLMMetrics(registry)
    fake_llm.reply(
        answer("c-early", "14:00 最早。", "实验报告 14:00", prompt_tokens=700, completion_tokens=50)
    )
    llm = LLMChooser(LLMConfig(base_url=fake_llm.base_url, api_key="k", model="fake-model"))
    try:
        await MeteredChooser(llm, metrics).choose(zh_request())
    finally:
        await llm.aclose()
    await MeteredChooser(FallbackChooser(), metrics).choose(zh_request())
    await MeteredChooser(FallbackChooser(), metrics).choose(zh_request())

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("smartflow_llm_choices_total", source="llm", reason="") == 1
    assert value("smartflow_llm_choices_total", source="fallback", reason="not_configured") == 2
    assert value("smartflow_llm_tokens_total", kind="prompt") == 700
    assert value("smartflow_llm_tokens_total", kind="completion") == 50
    assert value("smartflow_llm_choice_seconds_count", source="fallback") == 2
