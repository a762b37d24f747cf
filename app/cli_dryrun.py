"""`smartflow dry-run`: the diagnosis, every candidate with its scores, and the choice; writes nothing."""

from __future__ import annotations

import json
from datetime import datetime

import click

from app.cli_support import fail, parse_now, run_with_store, settings_of, wall_clock_now
from llm.api import Chooser, FallbackChooser
from llm.client import LLMChooser, make_chooser
from scheduler.services import DryRunReport, Pipeline, ServiceError, dry_run_json, dry_run_text
from store import Store


@click.command("dry-run")
@click.option("--user", "open_id", required=True, help="The user's open_id.")
@click.option(
    "--task",
    "task_key",
    required=True,
    metavar="TASK",
    help="The task: its key, id or title (as in chat, a meaningful part of the title will do).",
)
@click.option("--block", "block_id", metavar="ID", help="Diagnose an unfinished report of this block.")
@click.option(
    "--minutes",
    type=click.IntRange(0, 24 * 60),
    metavar="N",
    help="Minutes left of unfinished work (an unfinished report; the task's latest block unless --block).",
)
@click.option(
    "--now",
    callback=parse_now,
    metavar="TIME",
    help="ISO 8601 instant to run at (default: the present); without offset: the user's time zone.",
)
@click.option("--fallback", is_flag=True, help="Use the deterministic ranker even when an LLM is configured.")
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON shape (docs/cli-json.md).")
@click.pass_context
def dry_run_command(  # noqa: PLR0917 - one parameter per option
    ctx: click.Context,
    open_id: str,
    task_key: str,
    block_id: str | None,
    minutes: int | None,
    now: datetime | None,
    fallback: bool,
    as_json: bool,
) -> None:
    """Run the pipeline for a user's task up to the candidates and the choice, and print it all.

    Nothing is written and nothing is sent. With --block or --minutes the target is an unfinished
    report (a make-up), otherwise the task itself (as a due job would)."""
    settings = settings_of(ctx)
    start = now or wall_clock_now()
    chooser: Chooser = FallbackChooser("dry_run_fallback") if fallback else make_chooser(settings)

    async def work(store: Store) -> DryRunReport:
        pipeline = Pipeline(
            store,
            chooser,
            preview_ttl_minutes=settings.preview_ttl_minutes,
            grid_minutes=settings.grid_minutes,
        )
        try:
            return await pipeline.dry_run(open_id, task_key, start, block_id, minutes)
        finally:
            if isinstance(chooser, LLMChooser):
                await chooser.aclose()

    try:
        report = run_with_store(settings, work)
    except ServiceError as exc:
        fail(exc.detail or exc.code.value)
    if as_json:
        click.echo(json.dumps(dry_run_json(report), ensure_ascii=False, indent=2))
    else:
        click.echo(dry_run_text(report))
