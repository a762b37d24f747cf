"""What the bot's services ask the store beyond the generic repositories: is an error the database's?"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError


def is_database_error(exc: BaseException) -> bool:
    """True when `exc` came from the database or its driver (not from our code)."""
    return isinstance(exc, SQLAlchemyError)
