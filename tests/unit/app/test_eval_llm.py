"""`smartflow eval-llm` over the golden scenarios, against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import cli_eval
from app.cli import main
from tests.fakes.fake_llm import FakeLLM, FakeReply, first_candidate

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


def _two_scenarios(tmp_path: Path) -> Path:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    for name in ("01_place_empty_day.yaml", "09_unfinished_free_after.yaml"):
        (directory / name).write_text((GOLDEN / name).read_text(encoding="utf-8"), encoding="utf-8")
    return directory


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_default_scenarios_are_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["eval-llm"])
    assert result.exit_code == 0, result.output
    assert f"from {GOLDEN}" in result.output
    assert int(_field(result.output, "previews")) >= 30


def test_without_installed_scenarios_the_error_names_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_eval, "DEFAULT_SCENARIOS", tmp_path / "not-installed")
    result = CliRunner().invoke(main, ["eval-llm"])
    assert result.exit_code == 2
    assert "--scenarios" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "the file is empty"),
        ("# nothing yet\n", "the file is empty"),
        ("[1, 2]\n", "a list, not a mapping"),
        ("now: '2026-11-30 09:00'\ntarget: {task: t1}\nuser: [1]\n", "AttributeError"),
        ("now: '2026-11-30 09:00'\ntarget: {task: t1}\ntasks: [1]\n", "TypeError"),
    ],
)
def test_an_unusable_scenario_file_is_named_without_a_traceback(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"x.yaml: not a planning scenario ({why}" in result.output
    assert isinstance(result.exception, SystemExit)


def test_an_unreachable_model_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_LLM_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setenv("SMARTFLOW_LLM_MODEL", "m")
    result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(_two_scenarios(tmp_path))])
    assert result.exit_code == 1, result.output
    assert _field(result.output, "answered by model") == "0"  # the report is still printed
    assert "could not be reached for any scenario (connection_error 2)" in result.stderr


def test_a_model_that_errors_on_every_call_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLM() as fake:
        fake.responder = lambda _body: FakeReply(status=500)
        monkeypatch.setenv("SMARTFLOW_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("SMARTFLOW_LLM_MODEL", fake.model)
        result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(_two_scenarios(tmp_path))])
    assert result.exit_code == 1, result.output
    assert "http_error" in result.stderr


def test_a_model_that_answers_badly_was_still_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLM() as fake:
        fake.responder = lambda _body: FakeReply(content="I would pick the first one.")
        monkeypatch.setenv("SMARTFLOW_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("SMARTFLOW_LLM_MODEL", fake.model)
        result = CliRunner().invoke(main, ["eval-llm", "--scenarios", str(_two_scenarios(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "invalid_json" in _field(result.output, "fallback reasons")
