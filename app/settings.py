"""Configuration: every SMARTFLOW_ variable, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_FEISHU_DOMAIN = "https://open.feishu.cn"


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / 'smartflow.db'}"


class Settings(BaseSettings):
    """All configuration; read from the environment (prefix SMARTFLOW_) and an optional .env file."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(default_factory=default_database_url)
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_domain: str = DEFAULT_FEISHU_DOMAIN
    # the bot's own open_id: in groups, only messages mentioning it are handled (else: any mention)
    feishu_bot_open_id: str = ""
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
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {v!r}") from exc
        if url.get_backend_name() not in ("sqlite", "mysql"):
            raise ValueError("only sqlite+aiosqlite:// and mysql+aiomysql:// URLs are supported")
        return v

    @field_validator("feishu_domain", "llm_base_url")
    @classmethod
    def _check_http_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

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


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into a ConfigError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            lines.append(f"SMARTFLOW_{field.upper()}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from exc
