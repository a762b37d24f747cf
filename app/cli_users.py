"""`smartflow users add`: find users' open_ids by email or mobile number (Feishu contact API) and add them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import click

from app.cli_support import EXIT_CONFIG, fail, run_with_store, settings_of, wall_clock_now
from app.importer import Directory
from app.settings import Settings
from app.wiring import make_feishu_client
from bot.feishu.errors import FeishuError
from scheduler.services.users import NewUser, add_user
from store import Store

MISSING_SCOPE_CODES = frozenset({99991672, 99991679})


@click.group("users")
def users_group() -> None:
    """Users: add them by email or mobile number."""


@users_group.command("add")
@click.option("--email", "emails", multiple=True, metavar="EMAIL", help="A user's email (repeatable).")
@click.option(
    "--mobile", "mobiles", multiple=True, metavar="NUMBER", help="A user's mobile number (repeatable)."
)
@click.option("--name", help="The user's display name (with one --email or --mobile only).")
@click.pass_context
def users_add(
    ctx: click.Context, emails: tuple[str, ...], mobiles: tuple[str, ...], name: str | None
) -> None:
    """Look up each user's open_id in Feishu (contact:user.id:readonly) and add the users with the
    configured defaults (time zone, language, day window, daily card cap).

    Every address is looked up first: when one is unknown to Feishu nothing is added and each unknown one
    is named."""
    settings = settings_of(ctx)
    wanted = [("email", e.strip()) for e in emails] + [("mobile", m.strip()) for m in mobiles]
    if not wanted:
        fail("give at least one --email or --mobile", EXIT_CONFIG)
    if empty := [kind for kind, value in wanted if not value]:
        fail(f"an empty --{empty[0]} was given", EXIT_CONFIG)
    if name is not None and len(wanted) != 1:
        fail("--name goes with exactly one --email or --mobile", EXIT_CONFIG)
    found = asyncio.run(_resolve(settings, wanted))
    unknown = [f"{kind} {value}" for kind, value in wanted if found.get((kind, value)) is None]
    if unknown:
        fail(
            "not found in Feishu (unknown, or outside the app's availability scope), nothing was added: "
            + ", ".join(unknown)
        )
    new = NewUser(
        timezone=settings.timezone,
        locale=settings.locale,
        day_start=settings.day_start,
        day_end=settings.day_end,
        daily_card_cap=settings.daily_card_cap,
    )
    now = wall_clock_now()

    async def work(store: Store) -> list[bool]:
        async with store.uow() as uow:
            created = [await add_user(uow, str(found[key]), name, new, now) for key in wanted]
            await uow.commit()
        return created

    created = run_with_store(settings, work, create=True)
    for (kind, value), was_created in zip(wanted, created, strict=True):
        verb = "added" if was_created else "already there"
        click.echo(f"{verb:<13} {found[kind, value]}  ({kind} {value})")


def feishu_directory(settings: Settings) -> Directory | None:
    """The lookup an import uses for users given by email or mobile (None without a Feishu app); a Feishu
    failure exits with one line naming it."""
    if not settings.feishu_configured:
        return None

    def look_up(emails: Sequence[str], mobiles: Sequence[str]) -> dict[tuple[str, str], str | None]:
        wanted = [("email", e) for e in emails] + [("mobile", m) for m in mobiles]
        return asyncio.run(_resolve(settings, wanted))

    return look_up


async def _resolve(settings: Settings, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    client = make_feishu_client(settings)
    if client is None:
        fail(
            "looking users up needs the Feishu app: set SMARTFLOW_FEISHU_APP_ID and "
            "SMARTFLOW_FEISHU_APP_SECRET",
            EXIT_CONFIG,
        )
    try:
        return await client.batch_get_id(
            emails=[v for k, v in wanted if k == "email"], mobiles=[v for k, v in wanted if k == "mobile"]
        )
    except FeishuError as exc:
        if exc.code in MISSING_SCOPE_CODES:
            fail(
                "the Feishu app lacks the scope contact:user.id:readonly: add it in the developer console "
                "(Permissions & Scopes) and publish a new app version"
            )
        fail(f"Feishu lookup failed: {exc}")
    finally:
        await client.aclose()
