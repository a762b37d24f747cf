"""Operator commands: `smartflow stats | jobs | previews | notifications | retry` (text or --json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from app.cli_support import fail, run_with_store, settings_of, wall_clock_now
from scheduler.services import ops
from scheduler.services.errors import ServiceError
from store import Store

JSON_SCHEMA = "smartflow.ops.v1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _with(value: str, detail: str | None) -> str:
    return f"{value}/{detail}" if detail else value


def _emit(
    kind: str, rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]
) -> None:
    if as_json:
        click.echo(
            json.dumps({"schema": JSON_SCHEMA, "kind": kind, "rows": rows}, ensure_ascii=False, indent=2)
        )
        return
    if not rows:
        click.echo(f"no {kind}")
    for row in rows:
        click.echo(line(row))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the documented JSON shape.")
limit_option = click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)


@click.command("stats")
@json_option
@click.pass_context
def stats_command(ctx: click.Context, as_json: bool) -> None:
    """Rows by status: users, tasks, jobs, triggers, previews, notifications, inbox (by kind)."""
    settings = settings_of(ctx)

    async def work(store: Store) -> dict[str, dict[str, int]]:
        async with store.uow(readonly=True) as uow:
            return await ops.status_counts(uow)

    counts = run_with_store(settings, work)
    if as_json:
        click.echo(json.dumps({"schema": JSON_SCHEMA, "kind": "stats", "counts": counts}, indent=2))
        return
    for name, by_status in counts.items():
        click.echo(f"{name:<14} " + (", ".join(f"{k}={v}" for k, v in by_status.items()) or "-"))


@click.command("jobs")
@click.option(
    "--skipped",
    is_flag=True,
    help="Jobs that were skipped or canceled instead, latest first, with the reason.",
)
@limit_option
@json_option
@click.pass_context
def jobs_command(ctx: click.Context, skipped: bool, limit: int, as_json: bool) -> None:
    """The next pending due jobs, soonest first (or, with --skipped, the ones that will not fire and why)."""
    settings = settings_of(ctx)

    async def work(store: Store) -> list[dict[str, Any]]:
        async with store.uow(readonly=True) as uow:
            found = await (ops.closed_jobs if skipped else ops.pending_jobs)(uow, limit)
            names = await ops.names_of(uow, [j.user_id for j in found], [j.task_id for j in found])
            return [
                {
                    "id": j.id,
                    "task_id": j.task_id,
                    **_task_fields(names, j.task_id),
                    "user_id": j.user_id,
                    **_user_fields(names, j.user_id),
                    "trigger_at": _iso(j.trigger_at),
                    "trigger_at_local": _local(j.trigger_at, names, j.user_id),
                    "status": j.status,
                    "reason": j.reason,
                    "attempts": j.attempts,
                    "last_error": j.last_error,
                }
                for j in found
            ]

    rows = run_with_store(settings, work)
    _emit("jobs", rows, as_json, _job_line)


def _task_fields(names: ops.Names, task_id: str | None) -> dict[str, Any]:
    task = names.tasks.get(task_id) if task_id else None
    return {"task_title": task.title if task else None, "task_key": task.key if task else None}


def _user_fields(names: ops.Names, user_id: str) -> dict[str, Any]:
    user = names.users.get(user_id)
    return {
        "user_open_id": user.open_id if user else None,
        "user_name": user.name if user else None,
        "timezone": user.timezone if user else None,
    }


def _local(value: datetime | None, names: ops.Names, user_id: str) -> str | None:
    """`value` in the user's time zone (ISO 8601 with its offset)."""
    user = names.users.get(user_id)
    if value is None or user is None:
        return None
    return value.astimezone(ZoneInfo(user.timezone)).isoformat(timespec="seconds")


def _when(local: str | None, utc: str | None) -> str:
    """'2026-12-03 10:00 +08:00' for a text line (the ISO value, shortened), the UTC one when unknown."""
    shown = local or utc
    if shown is None:
        return "-"
    parsed = datetime.fromisoformat(shown)
    return parsed.strftime("%Y-%m-%d %H:%M ") + parsed.strftime("%z")[:3] + ":" + parsed.strftime("%z")[3:]


def _who(row: dict[str, Any]) -> str:
    if row["user_name"] and row["user_name"] != row["user_open_id"]:
        return f"{row['user_name']} ({row['user_open_id']})"
    return str(row["user_open_id"] or row["user_id"])


def _job_line(row: dict[str, Any]) -> str:
    title = row["task_title"] if row["task_title"] is not None else row["task_id"]
    line = f"{_when(row['trigger_at_local'], row['trigger_at'])}  {title!r}  {_who(row)}  id={row['id']}"
    if row["status"] != "pending":
        line += f"  {_with(row['status'], row['reason'])}"
    elif row["reason"]:
        line += f"  reason={row['reason']}"
    return line


@click.command("previews")
@click.option("--user", "open_id", help="Only this user's previews (open_id).")
@limit_option
@json_option
@click.pass_context
def previews_command(ctx: click.Context, open_id: str | None, limit: int, as_json: bool) -> None:
    """The latest previews: decision, state, the choice and how it was made, apply state."""
    settings = settings_of(ctx)

    async def work(store: Store) -> list[dict[str, Any]]:
        async with store.uow(readonly=True) as uow:
            found = await ops.recent_previews(uow, open_id=open_id, limit=limit)
            names = await ops.names_of(
                uow, [p.user_id for p in found], [p.task_id for p in found if p.task_id]
            )
            return [
                {
                    "id": p.id,
                    "user_id": p.user_id,
                    **_user_fields(names, p.user_id),
                    "task_id": p.task_id,
                    **_task_fields(names, p.task_id),
                    "trigger_id": p.trigger_id,
                    "created_at": _iso(p.created_at),
                    "created_at_local": _local(p.created_at, names, p.user_id),
                    "decision": p.decision,
                    "status": p.status,
                    "chosen_candidate_id": p.chosen_candidate_id,
                    "choice_source": p.choice_source,
                    "fallback_reason": p.fallback_reason,
                    "llm_model": p.llm_model,
                    "apply_status": p.apply_status,
                    "apply_error": p.apply_error,
                    "expires_at": _iso(p.expires_at),
                    "expires_at_local": _local(p.expires_at, names, p.user_id),
                }
                for p in found
            ]

    try:
        rows = run_with_store(settings, work)
    except ServiceError as exc:
        fail(exc.detail or exc.code.value)
    _emit("previews", rows, as_json, _preview_line)


def _preview_line(r: dict[str, Any]) -> str:
    title = r["task_title"] if r["task_title"] is not None else (r["task_id"] or "-")
    return (
        f"{_when(r['created_at_local'], r['created_at'])}  {title!r}  {_who(r)}  "
        f"{r['decision']:<11} {r['status']:<8} "
        f"choice={_with(r['choice_source'] or '-', r['fallback_reason'])}  "
        f"apply={_with(r['apply_status'], r['apply_error'])}  id={r['id']}"
    )


@click.command("notifications")
@click.option("--dead", is_flag=True, help="Dead notifications instead of those waiting to go out.")
@limit_option
@json_option
@click.pass_context
def notifications_command(ctx: click.Context, dead: bool, limit: int, as_json: bool) -> None:
    """Notifications waiting to go out (pending, failed, deferred), or dead ones with their last error."""
    settings = settings_of(ctx)

    async def work(store: Store) -> list[dict[str, Any]]:
        async with store.uow(readonly=True) as uow:
            found = await ops.notifications(uow, dead=dead, limit=limit)
            names = await ops.names_of(uow, [n.user_id for n in found])
            return [
                {
                    "id": n.id,
                    "user_id": n.user_id,
                    **_user_fields(names, n.user_id),
                    "preview_id": n.preview_id,
                    "kind": n.kind,
                    "status": n.status,
                    "attempts": n.attempts,
                    "next_attempt_at": _iso(n.next_attempt_at),
                    "next_attempt_at_local": _local(n.next_attempt_at, names, n.user_id),
                    "last_error_code": n.last_error_code,
                    "last_error": n.last_error,
                }
                for n in found
            ]

    rows = run_with_store(settings, work)
    _emit(
        "notifications",
        rows,
        as_json,
        lambda r: (
            f"{r['id']}  {r['status']:<8} {_who(r)}  attempts={r['attempts']}  "
            f"code={r['last_error_code'] or '-'}  "
            f"next={_when(r['next_attempt_at_local'], r['next_attempt_at'])}  {r['last_error'] or ''}"
        ).rstrip(),
    )


@click.command("retry")
@click.argument("notification_id")
@click.pass_context
def retry_command(ctx: click.Context, notification_id: str) -> None:
    """Queue a dead, failed or deferred notification for delivery now (the worker sends it)."""
    settings = settings_of(ctx)
    now = wall_clock_now()

    async def work(store: Store) -> ops.Retry:
        async with store.uow() as uow:
            done = await ops.retry_notification(uow, notification_id, now)
            if done.result == ops.RetryResult.QUEUED:
                await uow.commit()
            return done

    done = run_with_store(settings, work)
    if done.result == ops.RetryResult.NOT_FOUND:
        fail(f"no notification {notification_id}")
    if done.result == ops.RetryResult.BAD_STATE:
        fail(
            f"notification {notification_id} is {done.previous_status}: "
            "only dead, failed or deferred ones can be retried"
        )
    click.echo(f"notification {notification_id} queued again (was {done.previous_status})")


COMMANDS = (stats_command, jobs_command, previews_command, notifications_command, retry_command)
