"""Store errors: one base class with a stable code and a retryable flag."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError


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


# Any failure talking to the database (connection lost, constraint violated, lock conflict, bad SQL): callers
# outside the store catch this name, never the driver's or SQLAlchemy's classes.
DatabaseError = SQLAlchemyError

# MySQL/MariaDB: 1213 deadlock (the transaction was rolled back), 1205 lock wait timeout.
_MYSQL_LOCK_ERRORS = frozenset({1205, 1213})


# MySQL/MariaDB: 1305 savepoint does not exist (what leaving a SAVEPOINT raises once a deadlock inside it
# rolled the whole transaction back).
_MYSQL_SAVEPOINT_GONE = 1305


def _mysql_code(exc: BaseException) -> int | None:
    """The MySQL error number of a driver error or of SQLAlchemy's wrapper around one, else None."""
    args = getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_lock_conflict(exc: BaseException) -> bool:
    """A deadlock or lock-wait timeout (MySQL) or a busy database (SQLite): trying again may succeed. That
    includes a lost SAVEPOINT raised while a deadlock inside it was being handled (InnoDB rolled the whole
    transaction back, so rolling back to the savepoint fails and hides the deadlock)."""
    if not isinstance(exc, DBAPIError):
        return False
    code = _mysql_code(exc)
    if code is None:
        return "database is locked" in str(exc.orig)
    if code != _MYSQL_SAVEPOINT_GONE:
        return code in _MYSQL_LOCK_ERRORS
    cause = exc.__cause__ or exc.__context__
    for _ in range(8):  # what it was raised from or while handling, back to the deadlock
        if cause is None:
            return False
        if _mysql_code(cause) in _MYSQL_LOCK_ERRORS:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def database_error_detail(exc: BaseException) -> str:
    """The driver's message for a database failure, without the SQL statement and parameters that
    SQLAlchemy appends to its own."""
    return str(getattr(exc, "orig", None) or exc) if isinstance(exc, DatabaseError) else str(exc)


# MySQL/MariaDB: 1062 duplicate entry, 1586 duplicate entry for a unique key.
_MYSQL_DUPLICATE = frozenset({1062, 1586})


def is_duplicate_of(exc: BaseException, name: str) -> bool:
    """A unique-key collision on the key or column `name` (e.g. another row already holds that key)."""
    if not isinstance(exc, IntegrityError):
        return False
    orig = exc.orig
    args = getattr(orig, "args", ())
    duplicate = (
        args[0] in _MYSQL_DUPLICATE
        if args and isinstance(args[0], int)
        else "UNIQUE constraint failed" in str(orig)
    )
    return duplicate and name in str(orig)
