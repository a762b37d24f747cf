"""Admin slash commands (SPEC 4): admins only (SMARTFLOW_ADMINS or the admin role), every use audited."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.handlers.admin_text import dry_run_reply, local, word
from bot.handlers.context import MessageContext
from bot.handlers.deps import BotDeps
from bot.handlers.done import pick_task
from bot.handlers.localtext import lt
from bot.handlers.replies import send_reply
from bot.inbound import MessageIn
from bot.parse import Admin, AdminSub, ParseError, parse_time_text
from bot.parse.commands import split_pick
from bot.router import Router
from bot.texts import error_message, parse_error_text, t
from scheduler.services import ops
from scheduler.services.errors import ServiceError
from scheduler.services.triggers import create_trigger
from store.enums import TaskStatus, TriggerType
from store.models import Task, User

log = logging.getLogger(__name__)

MAX_ROWS = 15
MAX_REPLY_CHARS = 6000
LATER_REPLY = 5

admin_router: Router[MessageContext, None] = Router("admin")


def _admin_words(ctx: MessageContext) -> bool:
    return isinstance(ctx.command, Admin) or (ctx.error is not None and ctx.error.command == "admin")


def _sub(ctx: MessageContext) -> str:
    return f"admin.{ctx.command.sub.value}" if isinstance(ctx.command, Admin) else "admin"


def _audit(ctx: MessageContext, outcome: str, target: str | None = None, **detail: Any) -> None:
    args = list(ctx.command.args) if isinstance(ctx.command, Admin) else ctx.text.split()[1:]
    ctx.uow.audit.log(
        ctx.message.sender_open_id,
        _sub(ctx),
        target=target[:255] if target else None,
        outcome=outcome,
        now=ctx.now,
        detail={"args": args[:20], **detail},
    )


def _sub_is(sub: AdminSub) -> Any:
    return lambda ctx: isinstance(ctx.command, Admin) and ctx.command.sub is sub


@admin_router.route(lambda ctx: _admin_words(ctx) and not ctx.is_admin)
async def refuse(ctx: MessageContext) -> None:
    """Anyone not in the admin list: "not allowed" and an audit row, nothing else (not even usage)."""
    log.warning("admin command refused", extra={"open_id": ctx.message.sender_open_id})
    _audit(ctx, "refused")
    ctx.reply(t("not_allowed", ctx.locale))


@admin_router.route(lambda ctx: ctx.error is not None and ctx.error.command == "admin")
async def bad_usage(ctx: MessageContext) -> None:
    assert ctx.error is not None
    _audit(ctx, "bad_usage", code=str(ctx.error.code))
    ctx.reply(parse_error_text(ctx.error, ctx.locale))


async def _user(ctx: MessageContext, ref: str) -> User | None:
    """An open_id, a `@_user_N` mention of this message, or a user's exact name."""
    if ref.startswith("@_user_"):
        mention = next((m for m in ctx.message.mentions if m.key == ref), None)
        ref = mention.open_id if mention else ref
    user = await ctx.uow.users.get_by_open_id(ref)
    if user is not None:
        return user
    named = [u for u in await ctx.uow.users.list_all() if u.name == ref]
    return named[0] if len(named) == 1 else None


async def _task(ctx: MessageContext, user: User, ref: str, command: str) -> Task | None:
    """The user's open task `ref` names, read as /done reads it (including `#n` among equal titles)."""
    tasks = await ctx.uow.tasks.for_user(user.id, statuses=(TaskStatus.OPEN,))
    return pick_task(ctx, tasks, split_pick(ref), command)


async def _target(ctx: MessageContext) -> tuple[User, Task, Any] | None:
    """The (user, task, mocked now) of trigger/dryrun, or None after replying why not."""
    command = ctx.command
    assert isinstance(command, Admin)
    assert command.user
    assert command.task
    user = await _user(ctx, command.user)
    if user is None:
        _audit(ctx, "user_not_found", target=command.user)
        ctx.reply(lt("admin.user_not_found", ctx.locale, user=command.user))
        return None
    task = await _task(ctx, user, command.task, f"admin {command.sub.value} {command.user}")
    if task is None:
        _audit(ctx, "task_not_found", target=f"{user.open_id}:{command.task}")
        return None
    mocked = None
    if command.now_text:
        try:
            mocked = parse_time_text(command.now_text, ctx.now, user.timezone)
        except ParseError as exc:
            exc.command = "admin"
            _audit(ctx, "bad_usage", target=user.open_id, code=str(exc.code))
            ctx.reply(parse_error_text(exc, ctx.locale))
            return None
    return user, task, mocked


@admin_router.route(_sub_is(AdminSub.TRIGGER))
async def trigger(ctx: MessageContext) -> None:
    found = await _target(ctx)
    if found is None:
        return
    user, task, mocked = found
    try:
        outcome = await create_trigger(
            ctx.uow,
            user=user,
            type=TriggerType.ADMIN_TRIGGER,
            now=ctx.now,
            task_id=task.id,
            mocked_now=mocked,
        )
    except ServiceError as exc:
        _audit(ctx, "error", target=f"{user.open_id}:{task.id}", code=exc.code.value)
        ctx.reply(error_message(exc.code.value, ctx.locale))
        return
    row = outcome.trigger
    _audit(ctx, "ok" if outcome.created else "hit", target=f"{user.open_id}:{task.id}", trigger_id=row.id)
    if not outcome.created:
        status, hit = word("trigger", row.status, ctx.locale), word("hit", outcome.hit, ctx.locale)
        ctx.reply(lt("admin.trigger.hit", ctx.locale, trigger=row.id, status=status, hit=hit))
        return
    ctx.reply(lt("admin.trigger.created", ctx.locale, user=user.open_id, task=task.title, trigger=row.id))
    deps, message, locale, trigger_id = ctx.deps, ctx.message, ctx.locale, row.id
    ctx.after_commit("admin-trigger", lambda: _run_trigger(deps, message, trigger_id, locale))


async def _run_trigger(deps: BotDeps, message: MessageIn, trigger_id: str, locale: str) -> None:
    result = await deps.pipeline.run(trigger_id, deps.clock())
    preview = ""
    if result.preview_id:
        decision = word("decision", result.decision, locale)
        preview = lt("admin.trigger.preview", locale, preview=result.preview_id, decision=decision)
    if result.error_code:
        preview += lt("admin.trigger.error", locale, reason=error_message(result.error_code, locale))
    status = word("trigger", result.status, locale)
    text = lt("admin.trigger.result", locale, trigger=trigger_id, status=status, preview=preview)
    await send_reply(deps, message, text, LATER_REPLY)


@admin_router.route(_sub_is(AdminSub.DRYRUN))
async def dryrun(ctx: MessageContext) -> None:
    found = await _target(ctx)
    if found is None:
        return
    user, task, mocked = found
    _audit(ctx, "ok", target=f"{user.open_id}:{task.id}")
    ctx.reply(lt("admin.dryrun.started", ctx.locale))
    deps, message, locale, open_id, task_id = ctx.deps, ctx.message, ctx.locale, user.open_id, task.id
    at = mocked or ctx.now

    async def work() -> None:
        try:
            report = await deps.pipeline.dry_run(open_id, task_id, at)
            text = dry_run_reply(report, locale)
        except ServiceError as exc:
            text = lt("admin.dryrun.failed", locale, reason=error_message(exc.code.value, locale))
        await send_reply(deps, message, _clip(text), LATER_REPLY)

    ctx.after_commit("admin-dryrun", work)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REPLY_CHARS else text[: MAX_REPLY_CHARS - 1] + "…"


def _counts(by_status: Mapping[str, int]) -> str:
    return ", ".join(f"{status}={n}" for status, n in sorted(by_status.items())) or "-"


@admin_router.route(_sub_is(AdminSub.JOBS))
async def jobs(ctx: MessageContext) -> None:
    """Pending jobs soonest first, with their task and owner, at the admin's local time (one zone for the
    whole list, so its order reads as a timeline; the header names the zone)."""
    counts = (await ops.status_counts(ctx.uow))["jobs"]
    pending = await ops.pending_jobs(ctx.uow, MAX_ROWS)
    lines = [lt("admin.jobs.header", ctx.locale, counts=_counts(counts))]
    if pending:
        tz = ctx.user.timezone
        lines.append(lt("admin.jobs.zone", ctx.locale, tz=tz))
    for job in pending:
        task = await ctx.uow.tasks.get(job.task_id)
        owner = await ctx.uow.users.get(job.user_id)
        lines.append(
            lt(
                "admin.jobs.row",
                ctx.locale,
                at=local(job.trigger_at, tz),
                title=task.title if task is not None else job.task_id,
                user=owner.name if owner is not None else job.user_id,
                id=job.id,
            )
        )
    if not pending:
        lines.append(lt("admin.jobs.none", ctx.locale))
    _audit(ctx, "ok")
    ctx.reply("\n".join(lines))


@admin_router.route(_sub_is(AdminSub.NOTIFICATIONS))
async def notifications(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Admin)
    rows = await ops.notifications(ctx.uow, dead=command.dead, limit=MAX_ROWS)
    which = lt("admin.notifications.which." + ("dead" if command.dead else "waiting"), ctx.locale)
    lines = [lt("admin.notifications.header", ctx.locale, which=which)]
    lines += [
        lt(
            "admin.notifications.row",
            ctx.locale,
            id=n.id,
            status=word("notification", n.status, ctx.locale),
            attempts=n.attempts,
            code=n.last_error_code or "-",
            next=local(n.next_attempt_at, ctx.user.timezone),
        )
        for n in rows
    ]
    if not rows:
        lines.append(lt("admin.notifications.none", ctx.locale))
    _audit(ctx, "ok", dead=command.dead)
    ctx.reply("\n".join(lines))


@admin_router.route(_sub_is(AdminSub.RETRY))
async def retry(ctx: MessageContext) -> None:
    """Queue a dead, failed or deferred notification for delivery now, with a fresh attempt budget."""
    command = ctx.command
    assert isinstance(command, Admin)
    assert command.notification_id
    nid = command.notification_id
    done = await ops.retry_notification(ctx.uow, nid, ctx.now)
    if done.result == ops.RetryResult.NOT_FOUND:
        _audit(ctx, "not_found", target=nid)
        ctx.reply(lt("admin.retry.not_found", ctx.locale, id=nid))
    elif done.result == ops.RetryResult.BAD_STATE:
        _audit(ctx, "bad_state", target=nid, status=done.previous_status)
        ctx.reply(lt("admin.retry.bad_state", ctx.locale, id=nid, status=done.previous_status))
    else:
        _audit(ctx, "ok", target=nid, previous=done.previous_status)
        ctx.reply(lt("admin.retry.done", ctx.locale, id=nid))


@admin_router.route(_sub_is(AdminSub.STATS))
async def stats(ctx: MessageContext) -> None:
    counts = await ops.status_counts(ctx.uow)
    # Table names in words; the states stay as stored (the codes `smartflow stats` and the database show).
    lines = [
        lt(
            "admin.stats.row",
            ctx.locale,
            name=word("table", "users", ctx.locale),
            counts=counts.pop("users")["total"],
        )
    ]
    lines += [
        lt("admin.stats.row", ctx.locale, name=word("table", name, ctx.locale), counts=_counts(by_status))
        for name, by_status in counts.items()
    ]
    _audit(ctx, "ok")
    ctx.reply(lt("admin.stats", ctx.locale, lines="\n".join(lines)))
