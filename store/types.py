"""Column types and id helpers: UTC instants, ids generated in Python."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

ID_LENGTH = 32
# utf8mb4 InnoDB unique indexes are limited to 767 bytes on old row formats; 191 chars * 4 bytes fits.
KEY_LENGTH = 191


def new_id() -> str:
    """A fresh primary key: uuid4 as 32 hex characters."""
    return uuid.uuid4().hex


def short_key(key: str, limit: int = KEY_LENGTH) -> str:
    """A dedupe key that fits a unique column: long keys are replaced by their sha256."""
    if len(key) <= limit:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: takes only aware datetimes, stores naive UTC (DATETIME(6) on MySQL), returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("UTCDateTime refuses a naive datetime; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return value.replace(tzinfo=UTC)


def column_length(model: Any, column: str) -> int:
    """The size of a VARCHAR column of a model: MariaDB refuses a longer value where SQLite stores it, so
    input is checked against this up front and both backends accept exactly the same values."""
    column_type = model.__table__.c[column].type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"{model.__name__}.{column} is not a sized string column")
    return int(column_type.length)
