"""Calendar connections (a user's OAuth tokens, stored as ciphertext) and the single-use OAuth states."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import ConnectionStatus
from store.models import CalendarConnection, OAuthState, User


class ConnectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---- OAuth states -------------------------------------------------------------------------------
    def add_state(self, nonce: str, user_id: str, expires_at: datetime, now: datetime) -> None:
        self.session.add(
            OAuthState(nonce=nonce, user_id=user_id, expires_at=expires_at, used_at=None, created_at=now)
        )

    async def spend_state(self, nonce: str, user_id: str, now: datetime) -> bool:
        """Mark the state used, once: False when it is unknown, another user's, expired or already used.
        One statement; two callbacks racing with the same state cannot both get True."""
        stmt = (
            update(OAuthState)
            .where(
                OAuthState.nonce == nonce,
                OAuthState.user_id == user_id,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        assert isinstance(result, CursorResult)
        return int(result.rowcount) == 1

    async def state(self, nonce: str) -> OAuthState | None:
        return await self.session.get(OAuthState, nonce)

    async def forget_states(self, before: datetime) -> None:
        """Drop the states that expired before `before` (used or not): they can never be spent."""
        await self.session.execute(delete(OAuthState).where(OAuthState.expires_at < before))

    # ---- connections --------------------------------------------------------------------------------
    async def get(self, user_id: str, *, for_update: bool = False) -> CalendarConnection | None:
        """The user's connection; `for_update` locks the row until the unit of work ends (FOR UPDATE on
        MySQL; on SQLite the unit's BEGIN IMMEDIATE already made it the only writer)."""
        stmt = select(CalendarConnection).where(CalendarConnection.user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_users(self, user_ids: Iterable[str]) -> dict[str, CalendarConnection]:
        """The connections of these users in one statement, by user (a user without one is left out)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        stmt = select(CalendarConnection).where(CalendarConnection.user_id.in_(wanted))
        return {c.user_id: c for c in (await self.session.scalars(stmt)).all()}

    async def with_user(self, user_id: str) -> tuple[CalendarConnection, User] | None:
        stmt = (
            select(CalendarConnection, User)
            .join(User, User.id == CalendarConnection.user_id)
            .where(CalendarConnection.user_id == user_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row is not None else None

    def add(self, row: CalendarConnection) -> None:
        self.session.add(row)

    async def remove(self, user_id: str) -> bool:
        """Delete the user's connection (its tokens with it); False when there was none."""
        stmt = delete(CalendarConnection).where(CalendarConnection.user_id == user_id)
        result = await self.session.execute(stmt.execution_options(synchronize_session=False))
        assert isinstance(result, CursorResult)
        return int(result.rowcount) > 0

    async def claim_broken_notice(self, user_id: str, now: datetime) -> bool:
        """Record that the user is being told their connection broke; True for exactly one caller."""
        stmt = (
            update(CalendarConnection)
            .where(
                CalendarConnection.user_id == user_id,
                CalendarConnection.status == ConnectionStatus.BROKEN,
                CalendarConnection.broken_notified_at.is_(None),
            )
            .values(broken_notified_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        assert isinstance(result, CursorResult)
        return int(result.rowcount) == 1

    async def release_broken_notice(self, user_id: str) -> None:
        """Undo claim_broken_notice after the notice could not be sent, so a later caller sends it."""
        stmt = (
            update(CalendarConnection)
            .where(
                CalendarConnection.user_id == user_id,
                CalendarConnection.status == ConnectionStatus.BROKEN,
            )
            .values(broken_notified_at=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)
