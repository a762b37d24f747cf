"""The sender of a message: found, or created with the configured defaults on their first message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from store import UnitOfWork
from store.enums import Locale, Role
from store.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewUser:
    """What a first message creates: the configured defaults, and the language that message is written in."""

    timezone: str
    locale: str
    day_start: str
    day_end: str
    daily_card_cap: int


async def find_or_create(uow: UnitOfWork, open_id: str, new: NewUser, now: datetime) -> tuple[User, bool]:
    """The sender's user row, and whether this message created it (a first message; race-safe: a
    concurrent first message wins, and only it counts as the first)."""
    user = await uow.users.get_by_open_id(open_id)
    if user is not None:
        return user, False
    row = User(
        open_id=open_id,
        name=open_id,
        timezone=new.timezone,
        locale=Locale(new.locale),
        day_start=new.day_start,
        day_end=new.day_end,
        daily_card_cap=new.daily_card_cap,
        # SMARTFLOW_ADMINS is checked live, never stored: removing an open_id from it revokes at once.
        role=Role.USER,
        created_at=now,
        updated_at=now,
    )
    if await uow.users.add_if_absent(row):
        log.info("user created on first message", extra={"open_id": open_id})
        return row, True
    existing = await uow.users.get_by_open_id(open_id)
    if existing is None:  # pragma: no cover
        raise LookupError(f"user {open_id} collided but is gone")
    return existing, False


async def add_user(uow: UnitOfWork, open_id: str, name: str | None, new: NewUser, now: datetime) -> bool:
    """An operator adds a user they looked up (`smartflow users add`): created with the configured
    defaults and `name` (else the open_id, as a first message would), or left as it is when already there
    (the caller commits). True when created."""
    if await uow.users.get_by_open_id(open_id) is not None:
        return False
    row = User(
        open_id=open_id,
        name=name or open_id,
        timezone=new.timezone,
        locale=Locale(new.locale),
        day_start=new.day_start,
        day_end=new.day_end,
        daily_card_cap=new.daily_card_cap,
        role=Role.USER,
        created_at=now,
        updated_at=now,
    )
    return await uow.users.add_if_absent(row)
