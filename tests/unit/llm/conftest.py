"""Fixtures for the llm tests: a loopback fake provider and realistic requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from llm.api import CandidateView, ChoiceRequest
from llm.client import LLMChooser, LLMConfig
from tests.fakes.fake_llm import FakeLLM


def zh_request(**overrides: object) -> ChoiceRequest:
    """A due-job request with three place_task candidates, as the services would build it."""
    values: dict[str, object] = {
        "trigger_type": "worker_due_job",
        "decision": "propose",
        "locale": "zh",
        "timezone": "Asia/Shanghai",
        "window": "2026-11-30 09:00 - 2026-12-01 09:00 (Asia/Shanghai)",
        "target_title": "实验报告",
        "candidates": (
            CandidateView(
                id="c-early",
                type="place_task",
                summary="添加 实验报告 14:00-15:30",
                before="13:00-14:00 高数作业；14:00 起空闲",
                after="13:00-14:00 高数作业；14:00-15:30 实验报告",
                capacity_fit="full",
                risk_level="low",
                grounding=("14:00", "15:30", "13:00", "2026-11-30"),
            ),
            CandidateView(
                id="c-evening",
                type="place_task",
                summary="添加 实验报告 19:00-20:30",
                before="18:00-19:00 晚饭；19:00 起空闲",
                after="18:00-19:00 晚饭；19:00-20:30 实验报告",
                capacity_fit="full",
                risk_level="low",
                grounding=("19:00", "20:30", "18:00", "2026-11-30"),
            ),
            CandidateView(
                id="c-split",
                type="split_task",
                summary="拆分 实验报告：10:00-10:45 和 16:00-16:45",
                before="10:00-10:45 空闲；16:00-16:45 空闲",
                after="10:00-10:45 实验报告（1/2）；16:00-16:45 实验报告（2/2）",
                capacity_fit="full",
                risk_level="medium",
                grounding=("10:00", "10:45", "16:00", "16:45", "2026-11-30"),
            ),
        ),
        "fallback_candidate_id": "c-early",
        "fallback_explanation": "实验报告 明天截止，14:00-15:30 空闲且最早，先放在这里。",
        "fallback_summary": "已为 实验报告 找到 14:00-15:30",
    }
    values.update(overrides)
    return ChoiceRequest(**values)  # type: ignore[arg-type]


def en_request(**overrides: object) -> ChoiceRequest:
    base = zh_request()
    candidates = tuple(
        CandidateView(
            id=c.id,
            type=c.type,
            summary=s,
            before=b,
            after=a,
            capacity_fit=c.capacity_fit,
            risk_level=c.risk_level,
            grounding=c.grounding,
        )
        for c, (s, b, a) in zip(
            base.candidates,
            [
                (
                    "Add Lab report 14:00-15:30",
                    "13:00-14:00 Calculus; free from 14:00",
                    "14:00-15:30 Lab report",
                ),
                (
                    "Add Lab report 19:00-20:30",
                    "18:00-19:00 Dinner; free from 19:00",
                    "19:00-20:30 Lab report",
                ),
                (
                    "Split Lab report: 10:00-10:45 and 16:00-16:45",
                    "10:00-10:45 free; 16:00-16:45 free",
                    "10:00-10:45 Lab report (1/2); 16:00-16:45 Lab report (2/2)",
                ),
            ],
            strict=True,
        )
    )
    values: dict[str, object] = {
        "locale": "en",
        "target_title": "Lab report",
        "candidates": candidates,
        "fallback_explanation": "Lab report is due tomorrow; 14:00-15:30 is the earliest free slot.",
        "fallback_summary": "Found 14:00-15:30 for Lab report",
    }
    values.update(overrides)
    return zh_request(**values)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def make_chooser(fake_llm: FakeLLM) -> AsyncIterator[Callable[..., LLMChooser]]:
    made: list[LLMChooser] = []

    def make(budget: float = 5.0, model: str = "fake-model") -> LLMChooser:
        chooser = LLMChooser(
            LLMConfig(base_url=fake_llm.base_url, api_key="sk-test", model=model, budget_seconds=budget)
        )
        made.append(chooser)
        return chooser

    yield make
    for chooser in made:
        await chooser.aclose()
