"""Store errors: one base class with a stable code and a retryable flag."""

from __future__ import annotations

from enum import StrEnum


class StoreErrorCode(StrEnum):
    READ_ONLY = "store.read_only"
    SCHEMA_OUT_OF_DATE = "store.schema_out_of_date"
    MIGRATION_FAILED = "store.migration_failed"
    UNSUPPORTED_URL = "store.unsupported_url"


class StoreError(Exception):
    """Base of every error raised by the store package."""

    def __init__(self, code: StoreErrorCode, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
