"""The strict prompt renderer and the data fence."""

from __future__ import annotations

from importlib import resources

import pytest

from prompts.render import PromptError, PromptErrorCode, fence_data, render, variables


def test_prompt_files_ship_as_package_data() -> None:
    names = {p.name for p in resources.files("prompts").iterdir()}
    for part in ("system", "user", "reask"):
        for loc in ("zh", "en"):
            assert f"choose_candidate.v1.{part}.{loc}.md" in names


def test_render_fills_every_variable() -> None:
    text = render("choose_candidate.v1.reask.en", problems="field x is too long")
    assert "field x is too long" in text
    assert "$" not in text


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(PromptError) as err:
        render("choose_candidate.v1.system.zh", max_explanation="280")
    assert err.value.code == PromptErrorCode.MISSING_VARIABLE
    assert "max_summary" in str(err.value)


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(PromptError) as err:
        render("choose_candidate.v1.reask.zh", problems="x", extra="y")
    assert err.value.code == PromptErrorCode.UNKNOWN_VARIABLE


def test_unknown_prompt_is_an_error() -> None:
    with pytest.raises(PromptError) as err:
        render("choose_candidate.v9.system.zh")
    assert err.value.code == PromptErrorCode.UNKNOWN_PROMPT
    with pytest.raises(PromptError):
        render("../pyproject")


def test_values_are_not_reinterpreted_as_placeholders() -> None:
    text = render("choose_candidate.v1.reask.en", problems="${max_summary} $problems")
    assert "${max_summary} $problems" in text


def test_user_prompt_variables_are_the_documented_ones() -> None:
    assert (
        variables("choose_candidate.v1.user.zh")
        == variables("choose_candidate.v1.user.en")
        == {
            "trigger",
            "decision",
            "window",
            "target_title",
            "user_text",
            "candidates",
        }
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("实验报告", "实验报告"),
        ("a >>> b", "a b"),
        ("<<<close>>>", "close"),
        ("```json\n{}```", "json {}"),
        ("line1\nline2\r\n\tline3", "line1 line2 line3"),
        ("a<b and c>d", "a<b and c>d"),
        ("《书名》", "书名"),
    ],
)
def test_fence_data_removes_anything_that_could_close_the_fence(raw: str, clean: str) -> None:
    assert fence_data(raw) == clean


def test_fence_data_bounds_length() -> None:
    assert len(fence_data("x" * 1000, limit=50)) == 50
