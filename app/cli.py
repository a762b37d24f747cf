"""The `smartflow` command line: a thin click group; other modules add commands with `main.add_command`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import click

from app import importer, schedule_view
from app.cli_support import (
    EXIT_CONFIG,
    db_error_line,
    fail,
    is_in_memory,
    parse_now,
    run_with_store,
    settings_of,
    wall_clock_now,
)
from app.cli_users import feishu_directory
from store import Store, StoreError, migrate
from store.engine import sqlite_path
from store.errors import DatabaseError

MAX_PROBLEMS_SHOWN = 200
PROGRESS_THRESHOLD = 1000  # files with at least this many records report progress on stderr


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smartflow", prog_name="smartflow", message="%(prog)s %(version)s")
def main() -> None:
    """SmartFlow: proposes validated schedule changes in Feishu.

    Configuration comes from SMARTFLOW_* environment variables or a .env file in the working directory
    (docs/operator-guide.md lists them); a malformed value is named, with exit status 2, when a command
    starts, so --help always works."""


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the database schema to the newest migration."""
    settings = settings_of(ctx)
    if is_in_memory(settings.database_url):
        fail(
            "SMARTFLOW_DATABASE_URL is an in-memory SQLite database: it cannot be upgraded (nothing persists "
            "after the command); set it to a file or a MySQL/MariaDB URL",
            EXIT_CONFIG,
        )
    try:
        migrate.upgrade(settings.database_url)
    except (StoreError, DatabaseError, OSError) as exc:
        fail(db_error_line(exc, settings.database_url))
    click.echo(f"database schema is at {migrate.head_revision()}")


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, file: Path) -> None:
    """Import users, fixed events, tasks and blocks from a YAML or JSON FILE (idempotent).

    The whole file is checked first; on any error nothing is written and every problem is listed."""
    settings = settings_of(ctx)
    try:
        doc, lines = importer.read_file(file, feishu_directory(settings))
    except importer.ImportRejectedError as exc:
        _reject(file, exc)
    total = importer.count_records(doc)
    progress = _progress if total >= PROGRESS_THRESHOLD else None
    if progress:
        click.echo(f"import: {total} records read from {file}, checking", err=True)
    defaults = importer.defaults_from_settings(settings)
    now = wall_clock_now()

    async def work(store: Store) -> importer.ImportResult:
        async with store.uow() as uow:
            result = await importer.import_document(uow, doc, lines, defaults, now, progress=progress)
            await importer.after_import(uow, result.task_ids, now)
            await uow.commit()
        return result

    new_file = _new_sqlite_file(settings.database_url)
    try:
        result = run_with_store(settings, work, create=True)
    except importer.ImportRejectedError as exc:
        # Nothing was written: leave no empty database behind either (`stats` would call it healthy).
        if new_file is not None:
            _remove_sqlite(new_file)
        _reject(file, exc)
    click.echo(f"imported {file}")
    for name, count in result.summary.sections().items():
        counts = f"created {count.created:>6}  updated {count.updated:>6}  unchanged {count.unchanged:>6}"
        click.echo(f"  {name:<13} {counts}")


def _new_sqlite_file(url: str) -> Path | None:
    """The SQLite file `url` names when it does not exist yet (the import would create it), else None."""
    path = sqlite_path(url) if url.startswith("sqlite") else None
    return path if path is not None and not path.exists() else None


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _progress(section: str, done: int, total: int) -> None:
    click.echo(f"import: {section} {done}/{total}", err=True)


def _reject(file: Path, exc: importer.ImportRejectedError) -> NoReturn:
    problems = exc.problems
    click.echo(f"smartflow: {file}: rejected, nothing was written ({len(problems)} problem(s)):", err=True)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  {problem}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)
    raise SystemExit(1)


@main.command("schedule")
@click.option("--user", "open_id", required=True, help="The user's open_id.")
@click.option(
    "--now",
    callback=parse_now,
    metavar="TIME",
    help="ISO 8601 instant to start from (default: the present); without offset: the user's time zone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON shape (docs/cli-json.md).")
@click.pass_context
def schedule(ctx: click.Context, open_id: str, now: datetime | None, as_json: bool) -> None:
    """Print the next 24 hours of a user: fixed events, blocks and free time, in their time zone."""
    settings = settings_of(ctx)
    start = now or wall_clock_now()

    async def work(store: Store) -> schedule_view.ScheduleView:
        async with store.uow(readonly=True) as uow:
            return await schedule_view.load_schedule(uow, open_id, start, settings.grid_minutes)

    try:
        view = run_with_store(settings, work)
    except schedule_view.ScheduleError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(schedule_view.to_json(view), ensure_ascii=False, indent=2))
    else:
        click.echo(schedule_view.render_text(view))


# Commands living in their own modules (imported last: they import helpers from this package).
from app.cli_doctor import doctor_command  # noqa: E402
from app.cli_dryrun import dry_run_command  # noqa: E402
from app.cli_eval import eval_llm_command  # noqa: E402
from app.cli_ops import COMMANDS as OPS_COMMANDS  # noqa: E402
from app.cli_serve import serve_command  # noqa: E402
from app.cli_users import users_group  # noqa: E402
from app.demo import demo_command  # noqa: E402

main.add_command(demo_command)
main.add_command(doctor_command)
main.add_command(dry_run_command)
main.add_command(eval_llm_command)
main.add_command(serve_command)
main.add_command(users_group)
for command in OPS_COMMANDS:
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
