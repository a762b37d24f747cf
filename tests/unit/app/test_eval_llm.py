"""`smartflow eval-llm` over the golden scenarios, against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.fakes.fake_llm import FakeLLM, first_candidate

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _field(output: str, name: str) -> str:
    m = re.search(rf"^{re.escape(name)}:\s+(.+)$", output, re.MULTILINE)
    assert m, f"{name!r} missing from:\n{output}"
    return m.group(1)


def test_every_scenario_goes_through_the_model_and_is_compared_with_the_ranker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeLLM() as fake:
        fake.responder = first_candidate
        monkeypatch.setenv("SMARTFLOW_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("SMARTFLOW_LLM_MODEL", fake.model)
        monkeypatch.setenv("SMARTFLOW_LLM_API_KEY", "test-key")
        result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(GOLDEN)])
        requests = len(fake.requests)
    assert result.exit_code == 0, result.output
    total = int(_field(result.output, "previews"))
    assert total >= 30
    # every preview was answered by the model, over real HTTP
    assert _field(result.output, "answered by model") == str(total)
    assert requests == total
    assert _field(result.output, "fallback rate").startswith(f"0/{total}")
    # the fake picks the first offered candidate, which is the ranker's top: full agreement
    assert _field(result.output, "agreement with top").startswith(f"{total}/{total}")
    assert _field(result.output, "grounding failures") == "0"


def test_without_a_model_every_choice_is_the_fallback() -> None:
    result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(GOLDEN)])
    assert result.exit_code == 0, result.output
    total = _field(result.output, "previews")
    assert _field(result.output, "fallback rate").startswith(f"{total}/{total}")
    assert "not_configured" in _field(result.output, "fallback reasons")


def test_a_directory_without_scenarios_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(tmp_path)])
    assert result.exit_code != 0
    assert "no scenario files" in result.output


def test_a_malformed_scenario_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("now: not-a-time\ntarget: {task: t1}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(tmp_path)])
    assert result.exit_code != 0
    assert "bad.yaml" in result.output
