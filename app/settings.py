"""Configuration: every SMARTFLOW_ variable, validated once at start-up."""

from __future__ import annotations

import binascii
import difflib
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from scheduler.worker.config import WorkerConfig

DEFAULT_FEISHU_DOMAIN = "https://open.feishu.cn"
DEFAULT_FEISHU_ACCOUNTS_DOMAIN = "https://accounts.feishu.cn"
PREFIX = "SMARTFLOW_"
ENV_FILE = ".env"
# utf-8-sig: a byte-order mark (Windows editors add one) is not glued onto the first variable's name.
ENV_FILE_ENCODING = "utf-8-sig"
ASYNC_DRIVERS = ("sqlite+aiosqlite", "mysql+aiomysql")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# SMARTFLOW_ names that are not settings but are read by the test suite (not worth a warning).
NON_SETTING_VARIABLES = frozenset({"SMARTFLOW_TEST_MYSQL_URL", "SMARTFLOW_UPDATE_SNAPSHOTS"})


FERNET_KEY_HOWTO = (
    'make one with python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def is_fernet_key(value: str) -> bool:
    """`value` is a key cryptography's Fernet accepts (44 url-safe base64 characters, 32 bytes)."""
    try:
        Fernet(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return False
    return True


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / 'smartflow.db'}"


class Settings(BaseSettings):
    """All configuration; read from the environment (prefix SMARTFLOW_) and an optional .env file."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=ENV_FILE, env_file_encoding=ENV_FILE_ENCODING, extra="ignore"
    )

    database_url: str = Field(default_factory=default_database_url)
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_domain: str = DEFAULT_FEISHU_DOMAIN
    # the bot's own open_id: in groups, only messages mentioning it are handled (else: any mention)
    feishu_bot_open_id: str = ""
    # Feishu Calendar. Busy time is read with the app's token (no login) unless turned off; a copy older than
    # busy_max_age_seconds is re-read before planning, and Apply re-reads one older than a minute.
    calendar_busy: bool = True
    # Send limits (50/s per app, 5/s per user, 1000 free/busy reads a minute) counted in the database, so
    # every process on it stays inside them together; false: each process counts its own. Unset: shared on
    # MySQL/MariaDB (where several processes run), per process on SQLite (one process; a shared count there
    # would take the single write lock for every send).
    shared_send_limits: bool | None = None
    busy_max_age_seconds: float = Field(default=300.0, ge=0, le=24 * 3600)
    conflict_scan_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Feishu Tasks of connected users read into theirs every task_sync_seconds (0: never); a Feishu task
    # holds no estimate, so a new one gets task_sync_default_minutes.
    task_sync_seconds: float = Field(default=300.0, ge=0, le=24 * 3600)
    task_sync_default_minutes: int = Field(default=30, ge=5, le=480)
    # Feishu task lists (guids, comma-separated) the bot is a member of, read on the same interval with the
    # app's token alone: each task goes to its assignees who are our users (no login). Empty: none.
    task_lists: Annotated[tuple[str, ...], NoDecode] = ()
    # Connecting a user's own calendar (OAuth): where Feishu's authorization page lives, the public URL the
    # redirect comes back to (/oauth/feishu/callback), and the Fernet key the user tokens are encrypted with.
    feishu_accounts_domain: str = DEFAULT_FEISHU_ACCOUNTS_DOMAIN
    public_url: str = ""
    secret_key: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    llm_budget_seconds: float = Field(default=8.0, gt=0, le=60)
    admins: Annotated[tuple[str, ...], NoDecode] = ()
    timezone: str = "Asia/Shanghai"
    locale: str = "zh"
    day_start: str = "08:00"
    day_end: str = "22:30"
    grid_minutes: int = Field(default=15, ge=5, le=60)  # must divide an hour (checked below)
    preview_ttl_minutes: int = Field(default=60, ge=1, le=24 * 60)
    daily_card_cap: int = Field(default=8, ge=1, le=100)
    due_scan_seconds: float = Field(default=5.0, gt=0, le=3600)
    outbox_relay_seconds: float = Field(default=2.0, gt=0, le=3600)
    delivery_seconds: float = Field(default=2.0, gt=0, le=3600)
    expiry_scan_seconds: float = Field(default=30.0, gt=0, le=3600)
    lease_seconds: float = Field(default=60.0, ge=5, le=3600)
    feishu_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Worker: one delivery step (load, send, record) must fit in the lease and hold the Feishu call.
    delivery_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    promotion_seconds: float = Field(default=60.0, gt=0, le=3600)
    lease_recovery_seconds: float = Field(default=15.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A callback's body must arrive within this (408 after it), so a client that dribbles it cannot hold
    # a connection open; idle keep-alive connections are closed after as long.
    body_read_seconds: float = Field(default=5.0, gt=0, le=60)
    # A card press is answered with its final card when it is done within this; else with a toast and a
    # "working" card at once, the card updated when it is done (Feishu waits at most 3 s).
    click_answer_seconds: float = Field(default=0.08, ge=0, le=2.5)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str) -> str:
        from store.engine import driver_name

        driver = driver_name(v)
        if driver not in ASYNC_DRIVERS:
            # Only the scheme is echoed: the rest of the URL may hold a password.
            raise ValueError(
                "use sqlite+aiosqlite:///path or mysql+aiomysql://user:pass@host/db "
                f"(got {driver}://; only these async drivers are supported)"
            )
        return v

    @field_validator("feishu_domain", "llm_base_url", "feishu_accounts_domain", "public_url")
    @classmethod
    def _check_http_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, v: str) -> str:
        v = v.strip()
        if v and not is_fernet_key(v):
            # The value itself is never echoed: it is a secret (and a near miss is still most of one).
            raise ValueError(f"must be a Fernet key (32 bytes, url-safe base64); {FERNET_KEY_HOWTO}")
        return v

    @field_validator("grid_minutes")
    @classmethod
    def _check_grid(cls, v: int) -> int:
        if 60 % v:
            raise ValueError(f"must divide an hour (5, 10, 15, 20, 30 or 60), got {v}")
        return v

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, v: str) -> str:
        if v not in ("zh", "en"):
            raise ValueError("must be zh or en")
        return v

    @field_validator("day_start", "day_end")
    @classmethod
    def _check_hhmm(cls, v: str) -> str:
        parts = v.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"must be HH:MM, got {v!r}")
        h, m = int(parts[0]), int(parts[1])
        if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
            raise ValueError(f"must be HH:MM, got {v!r}")
        return f"{h:02d}:{m:02d}"

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {v!r}")
        return level

    @model_validator(mode="after")
    def _check_day_window(self) -> Self:
        # Same rule as the importer's per-user check: the window is one stretch of a day, and an end of
        # 00:00 means midnight (like 24:00).
        start, end = _minutes(self.day_start), _minutes(self.day_end) or 24 * 60
        if end <= start:
            raise ValueError(
                f"SMARTFLOW_DAY_END ({self.day_end}) must be after SMARTFLOW_DAY_START ({self.day_start})"
            )
        return self

    @field_validator("task_lists", mode="before")
    @classmethod
    def _parse_task_lists(cls, v: object) -> tuple[str, ...]:
        if isinstance(v, str):
            items = [s.strip() for s in v.split(",") if s.strip()]
        elif isinstance(v, list | tuple):
            items = [str(s).strip() for s in v if str(s).strip()]
        else:
            raise ValueError("must be a comma-separated list of task list guids")  # noqa: TRY004
        for item in items:
            if len(item) > 100 or not item.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"{item!r} is not a task list guid")
        return tuple(dict.fromkeys(items))

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, v: object) -> tuple[str, ...]:
        if isinstance(v, str):
            items = [s.strip() for s in v.split(",") if s.strip()]
        elif isinstance(v, list | tuple):
            items = [str(s).strip() for s in v]
        else:
            raise ValueError("must be a comma-separated list of open_ids")  # noqa: TRY004
        for item in items:
            if not item.startswith("ou_") or not item[3:].replace("_", "").isalnum():
                raise ValueError(f"{item!r} is not an open_id (expected ou_...)")
        return tuple(items)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def feishu_configured(self) -> bool:
        return bool(self.feishu_app_id and self.feishu_app_secret)

    def worker_config(self, **tuning: Any) -> WorkerConfig:
        """The worker's configuration: every WorkerConfig field that is a setting comes from here, `tuning`
        sets the others (batch sizes, concurrency) or overrides any (tests)."""
        values = {
            f.name: getattr(self, f.name) for f in fields(WorkerConfig) if f.name in type(self).model_fields
        }
        values.update(tuning)
        return WorkerConfig(**values)


class _DefaultsOnly(Settings):
    """Settings that read neither the environment nor .env: only the defaults and explicit values."""

    model_config = SettingsConfigDict(env_file=None)  # not even opened

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and ./.env (explicit `overrides` win), turning a validation
    failure into a ConfigError naming each variable and an unreadable .env into one naming the file."""
    return _build(Settings, overrides)


def builtin_settings(**overrides: object) -> Settings:
    """The built-in defaults plus `overrides`, ignoring every SMARTFLOW_ variable and .env (the demo)."""
    return _build(_DefaultsOnly, overrides)


def _build(cls: type[Settings], overrides: Mapping[str, object]) -> Settings:
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            field = ".".join(str(p) for p in err["loc"])
            # A check across fields (no location) names its variables itself.
            lines.append(f"{PREFIX}{field.upper()}: {message}" if field else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_utf8(Path(ENV_FILE))) from exc
    except OSError as exc:
        raise ConfigError(f"{Path(ENV_FILE).resolve()}: cannot read it ({exc.strerror or exc})") from exc


def _not_utf8(path: Path) -> str:
    where = ""
    try:
        data = path.read_bytes()
        data.decode(ENV_FILE_ENCODING)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f" (line {line}, byte {exc.start})"
    except OSError:
        pass
    return f"{path.resolve()}: not UTF-8{where}; save it as UTF-8"


def unknown_variables(environ: Mapping[str, str] | None = None, env_file: Path = Path(ENV_FILE)) -> list[str]:
    """One line per SMARTFLOW_ name in the environment or .env that is not a setting (a typo is otherwise
    silently ignored), with the closest setting's name when there is one."""
    suffixes = sorted(name.upper() for name in Settings.model_fields)
    known = {PREFIX + suffix for suffix in suffixes}
    names = dict.fromkeys(os.environ if environ is None else environ, "environment")
    try:
        in_file = dotenv_values(env_file, encoding=ENV_FILE_ENCODING) if env_file.is_file() else {}
    except (UnicodeDecodeError, OSError):
        in_file = {}  # load_settings reports an unreadable .env
    names.update({name: str(env_file) for name in in_file if name not in names})
    lines = []
    for name, source in sorted(names.items()):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or upper in NON_SETTING_VARIABLES:
            continue
        # Compare without the shared prefix, which would make every name look close to every other.
        close = difflib.get_close_matches(upper.removeprefix(PREFIX), suffixes, n=1, cutoff=0.6)
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else " (docs/operator-guide.md lists them all)"
        lines.append(f"{name} ({source}) is not a setting and is ignored{hint}")
    return lines
