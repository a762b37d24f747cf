"""`smartflow demo`: the whole loop on the embedded default: SQLite, sample data, a console Feishu."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import click

from app import importer, schedule_view
from app.cli_support import warn_unknown_variables
from app.settings import Settings, builtin_settings
from app.wiring import Components, build_components, make_worker
from bot.parse import Unfinished, parse_message
from bot.sender import ConsoleSender
from scheduler.services import actions, feedback
from scheduler.services.apply import apply
from scheduler.services.calendar import BusySpan
from scheduler.services.undo import undo
from scheduler.services.views import PreviewView, preview_view
from scheduler.worker.worker import Worker
from store.enums import TriggerType

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "team.yaml"
USER = "ou_alice"
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 30, 8, 30, tzinfo=TZ)  # a Monday morning, before the first urgency threshold


# A meeting on ou_alice's Feishu calendar that the imported YAML does not know: the simulated calendar
# reports it as free/busy does (untitled busy time), and the card plans around it.
MEETING = (datetime(2026, 11, 30, 11, 0, tzinfo=TZ), datetime(2026, 11, 30, 12, 0, tzinfo=TZ))


class SimulatedCalendar:
    """A stand-in for Feishu Calendar's free/busy: ou_alice is busy during MEETING; the others are free."""

    def __init__(self) -> None:
        self.reads = 0

    async def busy(self, open_id: str, start: datetime, end: datetime) -> list[BusySpan]:
        self.reads += 1
        s, e = MEETING
        return [BusySpan(s, e)] if open_id == USER and s < end and e > start else []


class DemoError(Exception):
    """The demo could not run a step; the message says which."""


@dataclass
class SimClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, when: datetime) -> None:
        self.now = when


class Demo:
    def __init__(self, components: Components, out: TextIO) -> None:
        self.c = components
        self.out = out
        self.clock = SimClock(START)
        self.worker: Worker = make_worker(components, clock=self.clock)
        self.settings: Settings = components.settings

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, title: str) -> None:
        local = self.clock.now.astimezone(TZ)
        self.say(f"\n=== [{local:%a %m-%d %H:%M} Asia/Shanghai] {title}")

    async def settle(self) -> None:
        """Run the worker until nothing is left to do at the current simulated time."""
        for _ in range(5):
            r = await self.worker.run_once(self.clock.now)
            if not (
                r.promoted
                or r.triggers
                or r.expired
                or r.relayed
                or r.recovered
                or any(r.deliveries.values())
            ):
                return

    async def print_schedule(self) -> None:
        async with self.c.store.uow(readonly=True) as uow:
            view = await schedule_view.load_schedule(uow, USER, self.clock.now, self.settings.grid_minutes)
        self.say(schedule_view.render_text(view))

    async def latest_preview(self) -> PreviewView:
        async with self.c.store.uow(readonly=True) as uow:
            user = await uow.users.get_by_open_id(USER)
            previews = await uow.previews.recent(user.id if user else None, limit=1)
            if not previews:
                raise DemoError("the pipeline produced no preview")
            return await preview_view(uow, previews[0].id)

    async def run(self) -> None:
        self.step(f"import {SAMPLE.name}")
        await self.import_sample()
        await self.print_schedule()

        self.step("worker runs: nothing is due yet")
        await self.settle()
        self.say("(no card: the first urgency threshold is at 09:00)")

        s, e = MEETING
        self.say(
            f"\n(simulated Feishu calendar: {USER} is busy {s:%H:%M}–{e:%H:%M}, a meeting the YAML file"
            " does not know; the pipeline reads it with free/busy before planning)"
        )
        self.clock.advance_to(datetime(2026, 11, 30, 9, 5, tzinfo=TZ))
        self.step(
            "simulated clock advanced: 物理实验报告 became urgent with 60 of its 90 minutes not planned"
        )
        await self.settle()
        first = await self.latest_preview()
        chosen = first.options[0].candidate_id if first.options else None
        if chosen is None:
            raise DemoError(f"expected a proposal, got decision {first.decision}")

        self.step(f"{USER} clicks Apply on the recommended option")
        outcome = await apply(
            self.c.store,
            preview_id=first.preview_id,
            candidate_id=chosen,
            operator_open_id=USER,
            idempotency_key="demo-click-apply",
            now=self.clock.now,
            grid_minutes=self.settings.grid_minutes,
            busy=self.c.pipeline.busy,
        )
        self.say(f"apply: {outcome.status}" + (f" ({outcome.code})" if outcome.code else ""))
        await self.settle()
        self.say("\nschedule after the click:")
        await self.print_schedule()

        self.clock.advance_to(datetime(2026, 11, 30, 12, 35, tzinfo=TZ))
        text = "报告还差30分钟"
        self.step(f'{USER} writes to the bot: "{text}"')
        await self.report_unfinished(text)
        await self.settle()
        second = await self.latest_preview()

        self.step(f"{USER} clicks Ignore")
        ignored = await actions.ignore(
            self.c.store, preview_id=second.preview_id, operator_open_id=USER, now=self.clock.now
        )
        self.say(f"ignore: {ignored.status}")
        await self.settle()

        self.clock.advance_to(self.clock.now + timedelta(minutes=10))
        self.step(f"{USER} clicks Undo on the first change")
        undone = await undo(
            self.c.store, preview_id=first.preview_id, operator_open_id=USER, now=self.clock.now
        )
        self.say(f"undo: {undone.status}" + (f" ({undone.code})" if undone.code else ""))
        await self.settle()
        self.say("\nschedule after undo (the added block is gone again):")
        await self.print_schedule()

    async def import_sample(self) -> None:
        doc, lines = importer.read_file(SAMPLE)
        defaults = importer.defaults_from_settings(self.settings)
        async with self.c.store.uow() as uow:
            result = await importer.import_document(uow, doc, lines, defaults, self.clock.now)
            await importer.after_import(uow, result.task_ids, self.clock.now)
            await uow.commit()
        for name, count in result.summary.sections().items():
            self.say(f"  {name:<13} created {count.created}")

    async def report_unfinished(self, text: str) -> None:
        command = parse_message(text)
        if not isinstance(command, Unfinished):
            raise DemoError(f"{text!r} was not understood as an unfinished report")
        now = self.clock.now
        async with self.c.store.uow(readonly=True) as uow:
            user = await uow.users.get_by_open_id(USER)
            if user is None:
                raise DemoError(f"user {USER} missing")
            target = await feedback.resolve_unfinished(uow, user, now, command.task_ref, command.minutes)
        outcome = await self.c.pipeline.trigger_and_run(
            user_open_id=USER,
            type=TriggerType.USER_FEEDBACK,
            now=now,
            block_id=target.block_id,
            choices=target.choices,
            remaining_minutes=command.minutes,
            user_text=text,
            source_message_id="demo-message-1",
        )
        self.say(f"pipeline: trigger {outcome.status}, decision {outcome.decision}")


async def run_demo(out: TextIO, workdir: Path) -> None:
    if not SAMPLE.exists():
        raise DemoError(f"sample data not found at {SAMPLE} (run the demo from a source checkout)")
    db = workdir / "smartflow-demo.db"
    # The built-in defaults only, whatever SMARTFLOW_ variables or .env say: the demo never touches a
    # configured database, Feishu app or model, tells the same story everywhere, and is not stopped by a
    # malformed value it would not use.
    settings = builtin_settings(database_url=f"sqlite+aiosqlite:///{db}")
    components = build_components(settings, sender=ConsoleSender(out), busy_reader=SimulatedCalendar())
    try:
        await components.store.ensure_schema()
        await Demo(components, out).run()
    finally:
        await components.aclose()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo database (its path is printed).")
def demo_command(keep: bool) -> None:
    """Run the whole loop on a fresh SQLite file with sample data; no credentials needed.

    It reads no SMARTFLOW_ variable and no .env: everything runs on the built-in defaults."""
    warn_unknown_variables()
    tmp = Path(tempfile.mkdtemp(prefix="smartflow-demo-"))
    try:
        asyncio.run(run_demo(sys.stdout, tmp))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    except BrokenPipeError:
        # The reader stopped reading (`smartflow demo | head`): what it wanted was shown; not an error.
        _silence_stdout()
    finally:
        if keep:
            click.echo(f"\ndemo database kept at {tmp / 'smartflow-demo.db'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    click.echo("\ndemo finished: nothing was sent anywhere; every card above was printed locally.")
