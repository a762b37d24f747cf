"""A three-candidate prompt stays under 1,500 tokens (measured figure: BENCHMARKS.md)."""

from __future__ import annotations

import dataclasses
import re

import bpe_openai
import pytest

from llm.api import ChoiceRequest
from llm.messages import system_prompt, user_prompt
from llm.validate import compatible
from tests.unit.llm.conftest import en_request, zh_request

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
FRAMING = 9  # ~3 tokens per chat message plus 3 to prime the reply


def prompt_text(request: ChoiceRequest) -> str:
    return system_prompt(request) + user_prompt(request, compatible(request))


def conservative_tokens(text: str) -> int:
    """An upper estimate: 1.5 tokens per CJK character, 1 per 2.5 other characters.

    Measured with real BPE tables (cl100k_base, o200k_base) this over-counts these prompts by 30-50 %.
    """
    cjk = len(_CJK.findall(text))
    return round(cjk * 1.5 + (len(text) - cjk) / 2.5) + FRAMING


@pytest.mark.parametrize("request_", [zh_request(), en_request()], ids=["zh", "en"])
def test_three_candidate_prompt_under_budget(request_: ChoiceRequest) -> None:
    assert len(request_.candidates) == 3
    assert conservative_tokens(prompt_text(request_)) < 1500


@pytest.mark.parametrize("request_", [zh_request(), en_request()], ids=["zh", "en"])
def test_three_candidate_prompt_exact_count(request_: ChoiceRequest) -> None:
    bpe = bpe_openai  # a dev dependency that ships the BPE tables: no download
    text = prompt_text(request_)
    for name in ("cl100k_base", "o200k_base"):
        exact = len(bpe.get_encoding(name).encode(text)) + FRAMING
        assert exact < 1500
        assert exact <= conservative_tokens(text)  # the estimate above really is conservative


@pytest.mark.parametrize("request_", [zh_request(), en_request()], ids=["zh", "en"])
def test_realistic_candidate_texts_are_not_clipped(request_: ChoiceRequest) -> None:
    text = user_prompt(request_, compatible(request_))
    for c in request_.candidates:
        for part in (c.summary, c.before, c.after):
            assert part in text


def test_every_field_full_of_cjk_still_under_budget() -> None:
    bpe = bpe_openai
    full = "实验报告" * 100
    request = zh_request(
        target_title=full,
        user_text=full,
        candidates=tuple(
            dataclasses.replace(c, summary=full, before=full, after=full) for c in zh_request().candidates
        ),
    )
    text = prompt_text(request)
    assert "…" in text  # the caps did cut
    for name in ("cl100k_base", "o200k_base"):
        assert len(bpe.get_encoding(name).encode(text)) + FRAMING < 1500
