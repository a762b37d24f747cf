"""Admin slash commands: admins only (SMARTFLOW_ADMINS or the admin role), every use audited by
the service that does it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.handlers.admin_text import dry_run_reply, local, word
from bot.handlers.commands import time_reader
from bot.handlers.context import MessageContext
from bot.handlers.deps import BotDeps
from bot.handlers.done import unpicked_text
from bot.handlers.replies import send_reply
from bot.inbound import MessageIn
from bot.parse import Admin, AdminSub, ParseError
from bot.parse.commands import split_pick
from bot.router import Router
from bot.texts import error_message, parse_error_text, t
from scheduler.services import admin as service
from scheduler.services.errors import ServiceError
from scheduler.services.tasks import DeadlineUnreadable, TaskRef, Unpicked

log = logging.getLogger(__name__)

MAX_ROWS = 15
MAX_REPLY_CHARS = 6000
LATER_REPLY = 5

admin_router: Router[MessageContext, None] = Router("admin")


def _call(ctx: MessageContext) -> service.AdminCall:
    """What the audit records: `admin.<sub>` (or `admin` when unreadable) and the argument words."""
    if isinstance(ctx.command, Admin):
        return service.AdminCall(f"admin.{ctx.command.sub.value}", tuple(ctx.command.args))
    return service.AdminCall("admin", tuple(ctx.text.split()[1:]))


def _sub_is(sub: AdminSub) -> Any:
    return lambda ctx: isinstance(ctx.command, Admin) and ctx.command.sub is sub


def _refused(ctx: MessageContext, result: object) -> bool:
    """Anyone not in the admin list: "not allowed", nothing else (not even usage)."""
    if isinstance(result, service.Refused):
        ctx.reply(t("not_allowed", ctx.locale))
        return True
    return False


@admin_router.route(lambda ctx: ctx.error is not None and ctx.error.command == "admin")
async def bad_usage(ctx: MessageContext) -> None:
    assert ctx.error is not None
    handled = await service.bad_usage(ctx.deps.store, ctx.inbound, _call(ctx), str(ctx.error.code))
    if ctx.seen(handled) and not _refused(ctx, handled.result):
        ctx.reply(parse_error_text(ctx.error, ctx.locale))


def _target_ref(ctx: MessageContext) -> service.TargetRef:
    """(user, task, --now) of trigger/dryrun: a `@_user_N` mention of this message names its open_id."""
    command = ctx.command
    assert isinstance(command, Admin)
    assert command.user
    assert command.task
    ref = command.user
    if ref.startswith("@_user_"):
        mention = next((m for m in ctx.message.mentions if m.key == ref), None)
        ref = mention.open_id if mention else ref
    at = time_reader(command.now_text, "admin") if command.now_text else None
    return service.TargetRef(ref, TaskRef(*split_pick(command.task)), at)


def _missed(ctx: MessageContext, result: object) -> bool:
    """Reply why the target was not found (user, task, --now); True when it was not."""
    command = ctx.command
    assert isinstance(command, Admin)
    if _refused(ctx, result):
        return True
    if isinstance(result, service.UserNotFound):
        ctx.reply(t("admin.user_not_found", ctx.locale, user=command.user))
    elif isinstance(result, Unpicked):
        assert ctx.user is not None
        name = f"admin {command.sub.value} {command.user}"
        ctx.reply(unpicked_text(ctx, ctx.user, result, name))
    elif isinstance(result, DeadlineUnreadable):
        error = result.error
        ctx.reply(parse_error_text(error, ctx.locale) if isinstance(error, ParseError) else str(error))
    else:
        return False
    return True


@admin_router.route(_sub_is(AdminSub.TRIGGER))
async def trigger(ctx: MessageContext) -> None:
    handled = await service.trigger(ctx.deps.store, ctx.inbound, _call(ctx), _target_ref(ctx))
    if not ctx.seen(handled) or _missed(ctx, handled.result):
        return
    result = handled.result
    if isinstance(result, service.TriggerRefused):
        ctx.reply(error_message(result.code, ctx.locale))
    elif isinstance(result, service.TriggerExists):
        status, hit = word("trigger", result.status, ctx.locale), word("hit", result.hit, ctx.locale)
        ctx.reply(t("admin.trigger.hit", ctx.locale, trigger=result.trigger_id, status=status, hit=hit))
    elif isinstance(result, service.TriggerCreated):
        target = result.target
        ctx.reply(
            t(
                "admin.trigger.created",
                ctx.locale,
                user=target.open_id,
                task=target.task.title,
                trigger=result.trigger_id,
            )
        )
        deps, message, locale, trigger_id = ctx.deps, ctx.message, ctx.locale, result.trigger_id
        ctx.after_commit("admin-trigger", lambda: _run_trigger(deps, message, trigger_id, locale))


async def _run_trigger(deps: BotDeps, message: MessageIn, trigger_id: str, locale: str) -> None:
    result = await deps.pipeline.run(trigger_id, deps.clock())
    preview = ""
    if result.preview_id:
        decision = word("decision", result.decision, locale)
        preview = t("admin.trigger.preview", locale, preview=result.preview_id, decision=decision)
    if result.error_code:
        preview += t("admin.trigger.error", locale, reason=error_message(result.error_code, locale))
    status = word("trigger", result.status, locale)
    text = t("admin.trigger.result", locale, trigger=trigger_id, status=status, preview=preview)
    await send_reply(deps, message, text, LATER_REPLY)


@admin_router.route(_sub_is(AdminSub.DRYRUN))
async def dryrun(ctx: MessageContext) -> None:
    handled = await service.dry_run_target(ctx.deps.store, ctx.inbound, _call(ctx), _target_ref(ctx))
    if not ctx.seen(handled) or _missed(ctx, handled.result):
        return
    target = handled.result
    assert isinstance(target, service.Target)
    ctx.reply(t("admin.dryrun.started", ctx.locale))
    deps, message, locale = ctx.deps, ctx.message, ctx.locale
    open_id, task_id, when = target.open_id, target.task.id, target.mocked_now or ctx.now

    async def work() -> None:
        try:
            report = await deps.pipeline.dry_run(open_id, task_id, when)
            text = dry_run_reply(report, locale)
        except ServiceError as exc:
            text = t("admin.dryrun.failed", locale, reason=error_message(exc.code.value, locale))
        await send_reply(deps, message, _clip(text), LATER_REPLY)

    ctx.after_commit("admin-dryrun", work)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REPLY_CHARS else text[: MAX_REPLY_CHARS - 1] + "…"


def _counts(by_status: Mapping[str, int]) -> str:
    return ", ".join(f"{status}={n}" for status, n in sorted(by_status.items())) or "-"


@admin_router.route(_sub_is(AdminSub.JOBS))
async def jobs(ctx: MessageContext) -> None:
    """Pending jobs soonest first, with their task and owner, at the admin's local time (one zone for the
    whole list, so its order reads as a timeline; the header names the zone); then the latest skipped or
    canceled jobs and why."""
    handled = await service.jobs(ctx.deps.store, ctx.inbound, _call(ctx), MAX_ROWS)
    if not ctx.seen(handled) or _refused(ctx, handled.result):
        return
    report = handled.result
    assert isinstance(report, service.JobsReport)
    tz = handled.user.timezone
    lines = [t("admin.jobs.header", ctx.locale, counts=_counts(report.counts))]
    if report.pending:
        lines.append(t("admin.jobs.zone", ctx.locale, tz=tz))
    for job in report.pending:
        at = local(job.trigger_at, tz)
        lines.append(t("admin.jobs.row", ctx.locale, at=at, title=job.title, user=job.user, id=job.id))
    if not report.pending:
        lines.append(t("admin.jobs.none", ctx.locale))
    if report.closed:
        lines.append(t("admin.jobs.closed", ctx.locale, tz=tz))
    for job in report.closed:
        lines.append(
            t(
                "admin.jobs.closed_row",
                ctx.locale,
                at=local(job.changed_at, tz),
                title=job.title,
                user=job.user,
                status=word("job", job.status, ctx.locale),
                reason=word("reason", job.reason, ctx.locale),
                id=job.id,
            )
        )
    ctx.reply("\n".join(lines))


@admin_router.route(_sub_is(AdminSub.NOTIFICATIONS))
async def notifications(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Admin)
    handled = await service.notifications(
        ctx.deps.store, ctx.inbound, _call(ctx), dead=command.dead, limit=MAX_ROWS
    )
    if not ctx.seen(handled) or _refused(ctx, handled.result):
        return
    rows = handled.result
    assert isinstance(rows, tuple)
    which = t("admin.notifications.which." + ("dead" if command.dead else "waiting"), ctx.locale)
    lines = [t("admin.notifications.header", ctx.locale, which=which)]
    lines += [
        t(
            "admin.notifications.row",
            ctx.locale,
            id=n.id,
            status=word("notification", n.status, ctx.locale),
            attempts=n.attempts,
            code=n.last_error_code or "-",
            next=local(n.next_attempt_at, handled.user.timezone),
        )
        for n in rows
    ]
    if not rows:
        lines.append(t("admin.notifications.none", ctx.locale))
    ctx.reply("\n".join(lines))


@admin_router.route(_sub_is(AdminSub.RETRY))
async def retry(ctx: MessageContext) -> None:
    """Queue a dead, failed or deferred notification for delivery now, with a fresh attempt budget."""
    command = ctx.command
    assert isinstance(command, Admin)
    assert command.notification_id
    nid = command.notification_id
    handled = await service.retry(ctx.deps.store, ctx.inbound, _call(ctx), nid)
    if not ctx.seen(handled) or _refused(ctx, handled.result):
        return
    done = handled.result
    assert not isinstance(done, service.Refused)
    if done.result == service.RetryResult.NOT_FOUND:
        ctx.reply(t("admin.retry.not_found", ctx.locale, id=nid))
    elif done.result == service.RetryResult.BAD_STATE:
        ctx.reply(t("admin.retry.bad_state", ctx.locale, id=nid, status=done.previous_status))
    else:
        ctx.reply(t("admin.retry.done", ctx.locale, id=nid))


@admin_router.route(_sub_is(AdminSub.STATS))
async def stats(ctx: MessageContext) -> None:
    handled = await service.stats(ctx.deps.store, ctx.inbound, _call(ctx))
    if not ctx.seen(handled) or _refused(ctx, handled.result):
        return
    assert isinstance(handled.result, dict)
    counts = dict(handled.result)
    # Table names in words; the states stay as stored (the codes `smartflow stats` and the database show).
    users = counts.pop("users")["total"]
    lines = [t("admin.stats.row", ctx.locale, name=word("table", "users", ctx.locale), counts=users)]
    lines += [
        t("admin.stats.row", ctx.locale, name=word("table", name, ctx.locale), counts=_counts(by_status))
        for name, by_status in counts.items()
    ]
    ctx.reply(t("admin.stats", ctx.locale, lines="\n".join(lines)))
