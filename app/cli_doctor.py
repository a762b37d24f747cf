"""`smartflow doctor`: is a fresh install wired correctly? One line per check, with what to do."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

import click
import httpx

from app.cli_serve import receiving_problem
from app.cli_support import db_error_line, warn_unknown_variables
from app.settings import FERNET_KEY_HOWTO, ConfigError, Settings, is_fernet_key, load_settings
from app.wiring import make_feishu_client
from bot.feishu.client import FeishuClient
from bot.feishu.errors import FeishuError, FeishuTokenError, FeishuTransientError
from store import Store, StoreError, migrate
from store.engine import sqlite_path
from store.errors import DatabaseError

CHECK_SECONDS = 10.0  # no check may hang the command
MISSING_SCOPE_CODES = frozenset({99991672, 99991679})
PROBE_OPEN_ID = (
    "ou_smartflow_doctor_probe"  # free/busy of nobody: the answer tells whether the scope is granted
)
SCOPE_ADVICE = (
    "add it in the Feishu developer console (Permissions & Scopes / 权限管理) and publish a new app version"
)


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def _ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def _fail(name: str, detail: str) -> Check:
    return Check(name, Status.FAIL, detail)


def _skip(name: str, detail: str) -> Check:
    return Check(name, Status.SKIP, detail)


@click.command("doctor")
@click.option(
    "--feishu",
    "feishu_mode",
    type=click.Choice(["http", "ws"]),
    default="http",
    show_default=True,
    help="How `serve` will receive Feishu events (what the settings must provide).",
)
def doctor_command(feishu_mode: str) -> None:
    """Check the settings, the database, Feishu (app token and each scope the enabled features need, by
    harmless calls that send nothing), the LLM (one tiny request) and the calendar connection settings.

    One line per check: ok, FAIL with what to do, or skip (feature not configured). Exit status 1 when
    any check fails."""
    warn_unknown_variables()
    try:
        settings = load_settings()
    except ConfigError as exc:
        _print(_fail("settings", str(exc)))
        raise SystemExit(1) from None
    checks = asyncio.run(run_checks(settings, feishu_mode))
    for check in checks:
        _print(check)
    if any(c.status == Status.FAIL for c in checks):
        raise SystemExit(1)


def _print(check: Check) -> None:
    click.echo(f"{check.status.value:<4}  {check.name:<22} {check.detail}")


async def run_checks(settings: Settings, feishu_mode: str = "http") -> list[Check]:
    """Every check, in order; a check that depends on a failed one is skipped, not failed again."""
    checks = [_settings(settings, feishu_mode), await _bounded("database", _database(settings))]
    checks += await _feishu(settings)
    checks.append(await _bounded("llm", _llm(settings)))
    checks.append(_calendar_connection(settings))
    return checks


async def _bounded(name: str, work: Awaitable[Check]) -> Check:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await work
    except TimeoutError:
        return _fail(name, f"no answer within {CHECK_SECONDS:g} s")


def _settings(settings: Settings, feishu_mode: str) -> Check:
    problem = receiving_problem(settings, feishu_mode)
    if problem is not None and settings.feishu_configured:
        return _fail("settings", problem)
    mode = "long connection" if feishu_mode == "ws" else "HTTP callbacks"
    signed = " (signed with the encrypt key)" if settings.feishu_encrypt_key else ""
    return _ok("settings", f"read; Feishu events by {mode}{signed}; time zone {settings.timezone}")


async def _database(settings: Settings) -> Check:
    name, url = "database", settings.database_url
    path = sqlite_path(url) if url.startswith("sqlite") else None
    if url.startswith("sqlite") and path is None:
        return _fail(name, "SMARTFLOW_DATABASE_URL is an in-memory SQLite database: set a file or MySQL URL")
    if path is not None and not path.exists():
        return _fail(name, f"no database at {path.resolve()}: run `smartflow db upgrade`")
    where = str(path.resolve()) if path is not None else _server(url)
    store = Store(url)
    try:
        async with store.uow(readonly=True) as uow:
            revision = await uow.ops.schema_revision()
            charsets = await uow.ops.character_sets()
    except (DatabaseError, StoreError, OSError) as exc:
        return _fail(name, db_error_line(exc, url).removeprefix("database error: "))
    finally:
        await store.dispose()
    head = migrate.head_revision()
    if revision != head:
        return _fail(
            name,
            f"{where}: schema at {revision or 'nothing'}, the newest is {head}: run `smartflow db upgrade`",
        )
    if charsets is None:
        return _ok(name, f"{where} (SQLite, UTF-8), schema at {head} (newest)")
    charset, collation, tables = charsets
    database = urlsplit(url).path.lstrip("/")
    if not charset.startswith("utf8mb4") or tables:
        bad = f"; tables not utf8mb4: {', '.join(tables)} (ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4)"
        return _fail(
            name,
            f"{where}: database default character set is {charset} ({collation}), not utf8mb4"
            f"{bad if tables else ''}: run ALTER DATABASE {database} CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_unicode_ci (Chinese text and emoji need utf8mb4)",
        )
    return _ok(name, f"{where} (MySQL/MariaDB, {charset}/{collation}), schema at {head} (newest)")


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 3306}{parts.path}"


async def _feishu(settings: Settings) -> list[Check]:
    names = ("feishu token", "feishu scope im", "feishu scope contact", "feishu scope calendar")
    client = make_feishu_client(settings)
    if client is None:
        detail = (
            "SMARTFLOW_FEISHU_APP_ID/SECRET not set: console mode (cards and replies are printed, not sent)"
        )
        return [_skip(names[0], detail), *(_skip(n, "no Feishu app configured") for n in names[1:])]
    try:
        token = await _bounded(names[0], _token(client, settings))
        if token.status != Status.OK:
            return [token, *(_skip(n, "needs the app token") for n in names[1:])]
        checks = [token]
        checks.append(
            await _bounded(
                names[1],
                _scope(
                    names[1], "im:message:send_as_bot (or im:message), to send cards", client.probe_send_scope
                ),
            )
        )
        checks.append(
            await _bounded(
                names[2],
                _scope(
                    names[2],
                    "contact:user.id:readonly, for `smartflow users add --email/--mobile`",
                    lambda: client.batch_get_id(emails=["smartflow-doctor-probe@invalid.example"]),
                ),
            )
        )
        if settings.calendar_busy:
            probe_user = settings.admins[0] if settings.admins else PROBE_OPEN_ID
            now = datetime.now(UTC).replace(microsecond=0)
            start, end = now.isoformat(), (now + timedelta(minutes=1)).isoformat()
            checks.append(
                await _bounded(
                    names[3],
                    _scope(
                        names[3],
                        "calendar:calendar.free_busy:read, to read busy time (SMARTFLOW_CALENDAR_BUSY)",
                        lambda: client.freebusy(probe_user, start, end),
                    ),
                )
            )
        else:
            checks.append(_skip(names[3], "SMARTFLOW_CALENDAR_BUSY is off: busy time is not read"))
        return checks
    finally:
        await client.aclose()


async def _token(client: FeishuClient, settings: Settings) -> Check:
    name = "feishu token"
    try:
        await client.check_token()
    except FeishuTransientError as exc:
        return _fail(
            name,
            f"cannot reach Feishu at {settings.feishu_domain} (SMARTFLOW_FEISHU_DOMAIN): "
            f"{exc.message or exc.code}",
        )
    except FeishuError as exc:
        return _fail(
            name,
            f"Feishu refused the app credentials ({exc.code} {exc.message}): check "
            "SMARTFLOW_FEISHU_APP_ID and SMARTFLOW_FEISHU_APP_SECRET (developer console, Credentials & "
            "Basic Info)",
        )
    return _ok(name, f"tenant token issued for app {settings.feishu_app_id} by {settings.feishu_domain}")


async def _scope(name: str, what: str, probe: Callable[[], Awaitable[object]]) -> Check:
    try:
        await probe()
    except FeishuError as exc:
        if exc.code in MISSING_SCOPE_CODES:
            return _fail(name, f"missing scope {what}: {SCOPE_ADVICE}")
        if isinstance(exc, FeishuTokenError | FeishuTransientError):
            return _fail(name, f"could not check {what}: Feishu answered {exc.code} {exc.message}".rstrip())
        # The probe's input is deliberately empty or unknown: refusing it means the scope was checked first.
        return _ok(name, f"{what}: granted (the probe was refused with code {exc.code}, as expected)")
    return _ok(name, f"{what}: granted")


async def _llm(settings: Settings) -> Check:
    name = "llm"
    if not settings.llm_configured:
        return _skip(name, "SMARTFLOW_LLM_BASE_URL/MODEL not set: the deterministic ranker chooses")
    url = f"{settings.llm_base_url}/chat/completions"
    body = {
        "model": settings.llm_model,
        "messages": [{"role": "user", "content": "Reply with the word ok."}],
        "max_tokens": 5,
    }
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    timeout = min(settings.llm_budget_seconds, CHECK_SECONDS)
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            answer = await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return _fail(
            name,
            f"cannot reach {url} ({type(exc).__name__}): check SMARTFLOW_LLM_BASE_URL "
            "(an OpenAI-compatible API ending in /v1)",
        )
    if answer.status_code in (401, 403):
        return _fail(name, f"{url} refused the key (HTTP {answer.status_code}): check SMARTFLOW_LLM_API_KEY")
    if answer.status_code != 200:
        return _fail(
            name,
            f"{url} answered HTTP {answer.status_code}: check SMARTFLOW_LLM_BASE_URL and SMARTFLOW_LLM_MODEL "
            f"({settings.llm_model!r})",
        )
    try:
        choices = answer.json().get("choices")
    except (ValueError, AttributeError):
        choices = None
    if not isinstance(choices, list) or not choices:
        return _fail(name, f"{url} answered 200 without choices: is it an OpenAI-compatible chat API?")
    return _ok(name, f"model {settings.llm_model} answered at {settings.llm_base_url}")


def _calendar_connection(settings: Settings) -> Check:
    name = "calendar connection"
    if not settings.public_url and not settings.secret_key:
        return _skip(
            name, "SMARTFLOW_PUBLIC_URL and SMARTFLOW_SECRET_KEY not set: users cannot connect a calendar"
        )
    if not settings.public_url:
        return _fail(
            name, "SMARTFLOW_PUBLIC_URL is not set: Feishu cannot send users back after they authorize"
        )
    parts = urlsplit(settings.public_url)
    if parts.scheme != "https" and not _loopback(parts.hostname or ""):
        return _fail(name, f"SMARTFLOW_PUBLIC_URL must be https:// (got {settings.public_url})")
    if parts.query or parts.fragment:
        return _fail(name, "SMARTFLOW_PUBLIC_URL must be a base URL without query or fragment")
    if not settings.secret_key:
        return _fail(name, "SMARTFLOW_SECRET_KEY is not set: user tokens cannot be encrypted; " + _KEY_HOWTO)
    if not is_fernet_key(settings.secret_key):
        return _fail(
            name, "SMARTFLOW_SECRET_KEY is not a Fernet key (32 bytes, url-safe base64); " + _KEY_HOWTO
        )
    return _ok(
        name,
        f"register {settings.public_url}/oauth/feishu/callback as a redirect URL in the app's security "
        "settings",
    )


_KEY_HOWTO = FERNET_KEY_HOWTO


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
