"""`smartflow eval-llm`: the planning scenarios through the configured model, compared with the ranker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import yaml

from app.cli_support import fail, settings_of
from app.wiring import make_chooser
from llm.api import ChoiceRequest
from llm.evaluate import evaluate, format_report
from scheduler.planning import plan
from scheduler.planning.model import Decision
from scheduler.planning.scenario import build_context
from scheduler.services.choice import build_request
from store.enums import TriggerType

DEFAULT_SCENARIOS = Path("tests/golden")


def load_requests(directory: Path) -> list[ChoiceRequest]:
    """A choice request per scenario file whose plan needs a choice (closed plans have nothing to choose)."""
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.json"))
    if not files:
        raise click.ClickException(f"no scenario files (*.yaml, *.json) in {directory}")
    requests = []
    for path in files:
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
            ctx = build_context(data)
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise click.ClickException(
                f"{path}: not a planning scenario ({type(exc).__name__}: {exc})"
            ) from exc
        result = plan(ctx)
        if result.observation.decision == Decision.CLOSE or result.top is None:
            continue
        requests.append(build_request(TriggerType.DRY_RUN, result, ctx))
    return requests


@click.command("eval-llm")
@click.option(
    "--scenarios",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_SCENARIOS,
    show_default=True,
    help="A directory of planning scenario files (the golden format, see scheduler/planning/scenario.py).",
)
@click.pass_context
def eval_llm_command(ctx: click.Context, scenarios: Path) -> None:
    """Run the scenarios through the configured model (SMARTFLOW_LLM_*) and report agreement with the
    deterministic top choice, grounding failures, fallback rate, latency p50/p95 and tokens per preview."""
    settings = settings_of(ctx)
    if not scenarios.is_dir():
        fail(f"scenario directory {scenarios} does not exist")
    requests = load_requests(scenarios)
    if not settings.llm_configured:
        click.echo(
            "no LLM configured (SMARTFLOW_LLM_BASE_URL / SMARTFLOW_LLM_MODEL): every choice is the fallback"
        )

    async def run() -> str:
        chooser = make_chooser(settings)
        try:
            report = await evaluate(chooser, requests)
        finally:
            close = getattr(chooser, "aclose", None)
            if close is not None:
                await close()
        return format_report(report)

    click.echo(f"scenarios: {len(requests)} from {scenarios}")
    click.echo(asyncio.run(run()))
