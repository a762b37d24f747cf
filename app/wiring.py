"""Composition root: build the store, chooser, Feishu client, sender, pipeline and worker from Settings."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from prometheus_client import generate_latest

from app.settings import Settings
from bot.feishu.calendar import EVENTS_PER_MINUTE, EVENTS_PER_SECOND, FeishuBusyReader, FeishuUserCalendar
from bot.feishu.client import (
    API_BUCKETS,
    API_PER_MINUTE,
    API_PER_SECOND,
    FREEBUSY_PER_MINUTE,
    FeishuClient,
)
from bot.feishu.oauth import FeishuOAuthClient
from bot.feishu.ratelimit import AllOf, Limiter, SlidingWindowLimiter
from bot.feishu.tasks import TASKS_PER_MINUTE, TASKS_PER_SECOND, FeishuTasklistReader, FeishuTasksClient
from bot.handlers import BotConfig
from bot.handlers.connect import ChatBrokenNotice
from bot.sender import ConsoleSender, FeishuSender
from llm.api import Chooser
from llm.capture import make_task_reader
from llm.client import make_chooser as make_llm_chooser
from llm.metrics import MeteredChooser, process_metrics
from scheduler.services.calendar import BusyReader, BusyTimes
from scheduler.services.calendar_events import EFFECT as CALENDAR_BLOCK_EFFECT
from scheduler.services.calendar_events import BlockEvents, OwnCalendar
from scheduler.services.calendar_subscription import EFFECT as SUBSCRIBE_EFFECT
from scheduler.services.calendar_subscription import CalendarSubscriptions
from scheduler.services.capture import TaskReader
from scheduler.services.connect import TASK_SUBSCRIBE_EFFECT, CalendarLogin, ConnectConfig
from scheduler.services.oauth import TokenCipher
from scheduler.services.pipeline import Pipeline
from scheduler.services.tasklists import SyncSteps, TasklistSync
from scheduler.services.tasksync import COMPLETE_EFFECT, SyncConfig, TaskSync
from scheduler.services.usertokens import UserTokens
from scheduler.worker import metrics as worker_metrics
from scheduler.worker.calendar_effect import CalendarBlockEffect, CalendarSubscribeEffect
from scheduler.worker.effects import Effects
from scheduler.worker.sender import Sender
from scheduler.worker.tasksync import TaskCompleteEffect, TaskSubscribeEffect
from scheduler.worker.worker import Worker
from store import Store
from store.throttle import TAKE_AT_ONCE, SharedLimiter

log = logging.getLogger(__name__)

METRICS_REFRESH_SECONDS = 2.0


@dataclass
class Components:
    """Everything a process needs, built once; `aclose()` releases connections."""

    settings: Settings
    store: Store
    chooser: Chooser
    feishu: FeishuClient | None
    sender: Sender
    pipeline: Pipeline
    bot_config: BotConfig
    task_reader: TaskReader | None = None  # the model that reads tasks in plain words (None: no LLM)
    # Users' own calendars (None unless SMARTFLOW_PUBLIC_URL, SMARTFLOW_SECRET_KEY and Feishu are set):
    # /connect's OAuth flow, and each connected user's access token, refreshed when due.
    calendar_login: CalendarLogin | None = None
    user_tokens: UserTokens | None = None
    oauth_client: FeishuOAuthClient | None = None
    # Connected users' Feishu Tasks read into theirs; /done on one completes it there (their own tokens).
    tasks_client: FeishuTasksClient | None = None
    task_sync: TaskSync | None = None
    tasklist_sync: TasklistSync | None = None  # SMARTFLOW_TASK_LISTS read with the app's token
    user_calendar: FeishuUserCalendar | None = None  # connected users' calendars, with their own tokens
    # The handlers of the Feishu calls committed changes queue (scheduler.services.effects), by name.
    effects: Effects = field(default_factory=Effects)

    async def worker_metrics(self, now: datetime) -> bytes:
        """The worker's metrics (row counts by status refreshed first, when the database answers in time),
        in Prometheus text."""
        try:
            async with asyncio.timeout(METRICS_REFRESH_SECONDS):
                await worker_metrics.refresh_status_counts(self.store, now)
        except Exception:
            log.warning("could not refresh the row counts for /metrics", exc_info=True)
        return generate_latest(worker_metrics.REGISTRY)

    async def aclose(self) -> None:
        for part in (self.chooser, self.task_reader):
            close = getattr(part, "aclose", None)
            if close is not None:
                await close()
        if self.feishu is not None:
            await self.feishu.aclose()
        if self.oauth_client is not None:
            await self.oauth_client.aclose()
        if self.tasks_client is not None:
            await self.tasks_client.aclose()
        if self.user_calendar is not None:
            await self.user_calendar.aclose()
        await self.store.dispose()


def make_chooser(settings: Settings) -> Chooser:
    """The configured LLM chooser (the deterministic fallback when none is configured), counted in the
    process's /metrics."""
    return MeteredChooser(make_llm_chooser(settings), process_metrics())


def bot_config(settings: Settings) -> BotConfig:
    """What the bot's handlers read, taken from the settings (which alone declare the defaults)."""
    return BotConfig(
        verification_token=settings.feishu_verification_token,
        encrypt_key=settings.feishu_encrypt_key,
        admins=frozenset(settings.admins),
        max_body_bytes=settings.max_body_bytes,
        body_read_seconds=settings.body_read_seconds,
        timezone=settings.timezone,
        locale=settings.locale,
        day_start=settings.day_start,
        day_end=settings.day_end,
        daily_card_cap=settings.daily_card_cap,
        grid_minutes=settings.grid_minutes,
        bot_open_id=settings.feishu_bot_open_id,
        click_budget_seconds=settings.click_answer_seconds,
    )


USER_PER_SECOND = 5  # Feishu: messages per second to one user (and updates per second of one message)


def _counted_in_database(
    settings: Settings, store: Store, name: str, limit: int, window: float
) -> SharedLimiter:
    """`limit` calls per `window` seconds counted in the database, so every process on it shares them; this
    process's own count while the database cannot be reached. A call in flight holds its slot at most the
    Feishu timeout and 5 s. A per-minute limit takes its slots a few at a time (one read for several calls):
    a handful held unused by each process is nothing against 1000 a minute, unlike 50 a second."""
    return SharedLimiter(
        store,
        name,
        limit,
        window,
        lease_seconds=settings.feishu_timeout_seconds + 5,
        ahead=TAKE_AT_ONCE if window >= 60 else 0,
        fallback=SlidingWindowLimiter(limit, window=window),
    )


def _minute_and_second(
    settings: Settings, store: Store, bucket: str, per_minute: int, per_second: int
) -> tuple[SharedLimiter, SharedLimiter]:
    """One Open API method's two limits counted in the database: `<bucket>.minute` and `<bucket>.second`."""
    return (
        _counted_in_database(settings, store, f"{bucket}.minute", per_minute, 60.0),
        _counted_in_database(settings, store, f"{bucket}.second", per_second, 1.0),
    )


def send_limiters(settings: Settings, store: Store) -> dict[str, Limiter]:
    """The client's limits, shared by every process on the database: 5 a second per recipient ("user"),
    free/busy's 1000 a minute, and each Open API method the client calls (bot.feishu.client.API_BUCKETS:
    "message.create", "message.patch", "card.update", ...) its own 1000 a minute and 50 a second."""
    limiters: dict[str, Limiter] = {
        "user": _counted_in_database(settings, store, "user", USER_PER_SECOND, 1.0),
        "freebusy": _counted_in_database(settings, store, "freebusy", FREEBUSY_PER_MINUTE, 60.0),
    }
    for api in API_BUCKETS:
        limiters[api] = AllOf(*_minute_and_second(settings, store, api, API_PER_MINUTE, API_PER_SECOND))
    return limiters


def _shared(settings: Settings, store: Store | None) -> bool:
    """Limits counted in the database: SMARTFLOW_SHARED_SEND_LIMITS, by default on MariaDB only."""
    shared = settings.shared_send_limits
    if shared is None:
        shared = store is not None and store.backend == "mysql"
    return store is not None and shared


def api_limiters(
    settings: Settings, store: Store, bucket: str, per_minute: int, per_second: int
) -> tuple[Limiter, Limiter] | None:
    """One Open API method's limits (per minute, per second) for the whole deployment when limits are
    shared; None: the client counts for this process alone."""
    if not _shared(settings, store):
        return None
    return _minute_and_second(settings, store, bucket, per_minute, per_second)


def make_feishu_client(settings: Settings, store: Store | None = None) -> FeishuClient | None:
    """The Open API client, or None without credentials. With `store` (and shared send limits on) its
    limits hold for every process on that database together."""
    if not settings.feishu_configured:
        return None
    limiters = send_limiters(settings, store) if store is not None and _shared(settings, store) else None
    return FeishuClient(
        settings.feishu_app_id,
        settings.feishu_app_secret,
        domain=settings.feishu_domain,
        timeout_seconds=settings.feishu_timeout_seconds,
        max_per_user_per_second=USER_PER_SECOND,
        max_per_api_per_second=API_PER_SECOND,
        max_per_api_per_minute=API_PER_MINUTE,
        limiters=limiters,
    )


def build_components(
    settings: Settings,
    *,
    sender: Sender | None = None,
    console: TextIO | None = None,
    busy_reader: BusyReader | None = None,
) -> Components:
    """Wire the process. Without Feishu credentials cards go to a ConsoleSender (printed). Busy time is read
    from `busy_reader` when given (the demo's simulated calendar), else from Feishu when configured."""
    store = Store(settings.database_url)
    chooser = make_chooser(settings)
    feishu = make_feishu_client(settings, store)
    if sender is None:
        if feishu is not None:
            sender = FeishuSender(feishu)
        else:
            log.warning("SMARTFLOW_FEISHU_APP_ID/SECRET not set: cards are printed, not sent")
            sender = ConsoleSender(console)
    if busy_reader is None and feishu is not None and settings.calendar_busy:
        busy_reader = FeishuBusyReader(feishu)
    busy = None
    if busy_reader is not None:
        busy = BusyTimes(store, busy_reader, max_age=timedelta(seconds=settings.busy_max_age_seconds))
    pipeline = Pipeline(
        store,
        chooser,
        preview_ttl_minutes=settings.preview_ttl_minutes,
        grid_minutes=settings.grid_minutes,
        busy=busy,
    )
    task_reader = make_task_reader(settings)
    components = Components(
        settings, store, chooser, feishu, sender, pipeline, bot_config(settings), task_reader
    )
    if feishu is not None and settings.task_lists:
        components.tasklist_sync = TasklistSync(
            store,
            FeishuTasklistReader(feishu),
            settings.task_lists,
            SyncConfig(
                interval_seconds=settings.task_sync_seconds,
                default_estimate_minutes=settings.task_sync_default_minutes,
            ),
        )
    if feishu is not None and settings.public_url and settings.secret_key:
        oauth = FeishuOAuthClient(
            settings.feishu_app_id,
            settings.feishu_app_secret,
            settings.feishu_domain,
            settings.feishu_timeout_seconds,
        )
        config = ConnectConfig(settings.feishu_app_id, settings.feishu_accounts_domain, settings.public_url)
        components.oauth_client = oauth
        components.calendar_login = CalendarLogin(store, oauth, config, settings.secret_key)
        components.user_tokens = UserTokens(
            store, oauth, TokenCipher(settings.secret_key), ChatBrokenNotice(feishu)
        )
        components.tasks_client = FeishuTasksClient(
            settings.feishu_domain,
            settings.feishu_timeout_seconds,
            limiters=api_limiters(settings, store, "tasks", TASKS_PER_MINUTE, TASKS_PER_SECOND),
        )
        sync_config = SyncConfig(
            interval_seconds=settings.task_sync_seconds,
            default_estimate_minutes=settings.task_sync_default_minutes,
        )
        components.task_sync = TaskSync(store, components.tasks_client, components.user_tokens, sync_config)
        components.effects.register(TASK_SUBSCRIBE_EFFECT, TaskSubscribeEffect(components.task_sync))
        # Applied blocks written to the user's own calendar (queued by Apply / Undo, run by the worker).
        components.user_calendar = FeishuUserCalendar(
            settings.feishu_domain,
            settings.feishu_timeout_seconds,
            limiters=api_limiters(settings, store, "events", EVENTS_PER_MINUTE, EVENTS_PER_SECOND),
        )
        blocks = BlockEvents(store, components.user_tokens, components.user_calendar)
        components.effects.register(CALENDAR_BLOCK_EFFECT, CalendarBlockEffect(blocks))
        # Connected calendars subscribed to change events (queued by the callback, undone by /disconnect).
        subscriptions = CalendarSubscriptions(store, components.user_tokens, components.user_calendar)
        components.effects.register(SUBSCRIBE_EFFECT, CalendarSubscribeEffect(subscriptions))
        components.calendar_login.subscriptions = subscriptions
        if busy is not None:  # a connected user's busy time read from their own calendar, titles included
            busy.own = OwnCalendar(components.user_tokens, components.user_calendar)
    if components.task_sync is not None or components.tasklist_sync is not None:
        # `/done` on a synced task completes it in Feishu: as the user, else (a shared list's task) the app.
        components.effects.register(
            COMPLETE_EFFECT, TaskCompleteEffect(components.task_sync, components.tasklist_sync)
        )
    return components


def make_worker(components: Components, clock: Callable[[], datetime] | None = None) -> Worker:
    """The background worker on the components; raises WorkerConfigError when the timeouts do not nest."""
    return Worker(
        components.settings.worker_config(),
        components.store,
        components.pipeline,
        components.sender,
        clock or (lambda: datetime.now(UTC)),
        effects=components.effects,
        task_sync=SyncSteps(components.task_sync, components.tasklist_sync),
    )


def serving_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop a serving process runs on: uvloop's where it is installed (less CPU per callback than
    asyncio's; docs/architecture.md, "A serving process"), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, except on Windows
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def settle_heap() -> None:
    """Once a process is wired and about to serve: collect, then move every object alive now (the ~500k of
    the imported libraries, lark-oapi's models above all, and the wiring) out of the collector's reach.
    Without it each full collection walks them all, a pause of 200-300 ms on whatever request is in
    flight; afterwards a full collection walks only what was made since (the objects are kept alive as
    they would have been anyway)."""
    gc.collect()
    gc.freeze()
