"""`smartflow eval-llm`: the planning scenarios through the configured model, compared with the ranker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import yaml

from app.cli_support import EXIT_CONFIG, EXIT_FAILURE, fail, settings_of
from app.wiring import make_chooser
from llm.api import ChoiceRequest
from llm.evaluate import EvalReport, evaluate, format_report
from scheduler.planning import plan
from scheduler.planning.model import Decision
from scheduler.planning.scenario import build_context
from scheduler.services.choice import build_request
from store.enums import TriggerType

# The golden scenarios of the planning engine's tests: found next to the package in a source checkout
# (or an editable install), whatever the working directory. A wheel does not ship them.
DEFAULT_SCENARIOS = Path(__file__).resolve().parents[1] / "tests" / "golden"


def _scenario(path: Path) -> Any:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _not_a_scenario(path, f"{type(exc).__name__}: {exc}") from exc
    if data is None:
        raise _not_a_scenario(path, "the file is empty")
    if not isinstance(data, dict):
        raise _not_a_scenario(path, f"a {type(data).__name__}, not a mapping")
    return data


def _not_a_scenario(path: Path, why: str) -> click.ClickException:
    return click.ClickException(f"{path}: not a planning scenario ({why})")


def load_requests(directory: Path) -> list[ChoiceRequest]:
    """A choice request per scenario file whose plan needs a choice (closed plans have nothing to choose)."""
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.json"))
    if not files:
        raise click.ClickException(f"no scenario files (*.yaml, *.json) in {directory}")
    requests = []
    for path in files:
        data = _scenario(path)
        try:
            ctx = build_context(data)
            result = plan(ctx)
        # A hand-written scenario can be wrong in any part (a list where a mapping belongs, a bad time).
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _not_a_scenario(path, f"{type(exc).__name__}: {exc}") from exc
        if result.observation.decision == Decision.CLOSE or result.top is None:
            continue
        requests.append(build_request(TriggerType.DRY_RUN, result, ctx))
    return requests


@click.command("eval-llm")
@click.option(
    "--scenarios",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A directory of planning scenario files (the golden format, see scheduler/planning/scenario.py). "
    "Default: the golden scenarios of the source checkout (tests/golden next to the package), from any "
    "working directory.",
)
@click.pass_context
def eval_llm_command(ctx: click.Context, scenarios: Path | None) -> None:
    """Run the scenarios through the configured model (SMARTFLOW_LLM_*) and report agreement with the
    deterministic top choice, grounding failures, fallback rate, latency p50/p95 and tokens per preview.

    \b
    Exit status:
      0  the report was printed (without a configured model every choice is the fallback, as reported)
      1  a scenario file is unreadable or the directory has none, or a model is configured but could
         not be reached for any scenario (every choice fell back: connection error, timeout, HTTP
         error, rate limit or a response that is not a chat completion), so nothing was measured
      2  bad configuration or usage (also: no --scenarios and no golden scenarios installed)
    """
    settings = settings_of(ctx)
    if scenarios is None:
        if not DEFAULT_SCENARIOS.is_dir():
            fail(
                "the golden scenarios are not installed with this package (they live in the source "
                "checkout's tests/golden): give --scenarios DIR",
                EXIT_CONFIG,
            )
        scenarios = DEFAULT_SCENARIOS
    if not scenarios.is_dir():
        fail(f"scenario directory {scenarios} does not exist")
    requests = load_requests(scenarios)
    if not settings.llm_configured:
        click.echo(
            "no LLM configured (SMARTFLOW_LLM_BASE_URL / SMARTFLOW_LLM_MODEL): every choice is the fallback"
        )

    async def run() -> EvalReport:
        chooser = make_chooser(settings)
        try:
            return await evaluate(chooser, requests)
        finally:
            close = getattr(chooser, "aclose", None)
            if close is not None:
                await close()

    click.echo(f"scenarios: {len(requests)} from {scenarios}")
    report = asyncio.run(run())
    click.echo(format_report(report))
    if settings.llm_configured and report.model_unreachable:
        reasons = ", ".join(f"{code} {n}" for code, n in report.fallback_reasons)
        fail(
            f"the model {settings.llm_model} at {settings.llm_base_url} could not be reached for any "
            f"scenario ({reasons}): nothing was measured",
            EXIT_FAILURE,
        )
