"""The eval report over a set of requests, against the fake provider."""

from __future__ import annotations

from collections.abc import Callable

from llm.client import LLMChooser
from llm.evaluate import evaluate, format_report, percentile
from tests.fakes.fake_llm import FakeLLM, FakeReply, answer, first_candidate
from tests.unit.llm.conftest import en_request, zh_request


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) == 0
    assert percentile([5], 95) == 5
    assert percentile(list(range(1, 101)), 50) == 50
    assert percentile(list(range(1, 101)), 95) == 95


async def test_report_counts_agreement_fallbacks_and_grounding(
    fake_llm: FakeLLM, make_chooser: Callable[..., LLMChooser]
) -> None:
    fake_llm.responder = first_candidate
    fake_llm.reply(
        FakeReply(status=500),
        # disagrees with the ranker (c-early) but is valid
        answer(
            "c-evening",
            "晚上 19:00 开始，不被打断。",
            "实验报告 19:00",
            prompt_tokens=700,
            completion_tokens=60,
        ),
        # ungrounded twice: template text
        answer("c-evening", "21:00 开始。", "实验报告 已安排"),
        answer("c-evening", "21:00 开始。", "实验报告 已安排"),
    )
    requests = [zh_request(), zh_request(), zh_request(), en_request(), zh_request()]
    report = await evaluate(make_chooser(), requests)

    assert report.total == 5
    assert report.llm == 3
    assert report.agreements == 2  # the first-candidate answers agree; the c-evening one does not
    assert report.grounding_failures == 1
    assert dict(report.fallback_reasons) == {"http_error": 1, "ungrounded": 1}
    assert report.fallback_rate == 0.4
    assert report.tokens_per_preview == (0 + 760 + 280 + 140 + 140) / 5
    text = format_report(report)
    assert "agreement with top:  2/3" in text
    assert "http_error 1" in text
