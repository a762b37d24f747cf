"""SmartFlow store: SQLAlchemy models, repositories, unit of work and Alembic migrations."""

from __future__ import annotations

from store.errors import StoreError, StoreErrorCode
from store.types import column_length, new_id, short_key
from store.uow import Store, UnitOfWork

__all__ = [
    "Store",
    "StoreError",
    "StoreErrorCode",
    "UnitOfWork",
    "column_length",
    "new_id",
    "short_key",
]
