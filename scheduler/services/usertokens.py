"""A connected user's access token, refreshed shortly before it expires. Feishu refresh tokens work once, so
a refresh runs with the connection row locked: a second process waits, re-reads and uses the new token. A
grant Feishu calls dead marks the connection broken, and the user is told once."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Protocol

from scheduler.services.connect import seal_grant
from scheduler.services.oauth import OAuthClient, OAuthError, TokenCipher
from store import Store
from store.enums import ConnectionStatus
from store.models import CalendarConnection

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)


class NotConnected(Exception):
    """The user has no calendar connection (never connected, or disconnected)."""


class ConnectionBroken(Exception):
    """The user's grant is dead (revoked, expired, already spent): they must /connect again. `told`: the
    user has been told so already."""

    def __init__(self, *, told: bool = False) -> None:
        super().__init__("calendar connection broken")
        self.told = told


class TokenUnavailable(Exception):
    """Feishu could not refresh the token right now (network, 5xx); the connection is kept."""

    def __init__(self, code: str, *, retryable: bool) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


class BrokenNotice(Protocol):
    """Tells a user, in their chat with the bot, that their calendar connection stopped working."""

    async def connection_broken(self, open_id: str, locale: str, uuid: str) -> None:
        """Send the notice; `uuid` makes a repeated send of the same notice a no-op at Feishu."""
        ...


def fresh(row: CalendarConnection, now: datetime) -> bool:
    """The access token is usable for at least REFRESH_MARGIN more."""
    expires = row.access_expires_at
    return row.access_token is not None and expires is not None and expires - now > REFRESH_MARGIN


def notice_uuid(user_id: str, broken_at: datetime | None) -> str:
    stamp = broken_at.isoformat() if broken_at is not None else ""
    return "calbroken-" + hashlib.sha256(f"{user_id}|{stamp}".encode()).hexdigest()[:32]


class UserTokens:
    """access_token(user_id, now) for every caller that reads or writes a user's own calendar."""

    def __init__(
        self, store: Store, client: OAuthClient, cipher: TokenCipher, notice: BrokenNotice | None = None
    ) -> None:
        self.store = store
        self.client = client
        self.cipher = cipher
        self.notice = notice

    async def access_token(self, user_id: str, now: datetime) -> str:
        """A user access token valid for at least five more minutes. Raises NotConnected, ConnectionBroken
        (the user is told once) or TokenUnavailable."""
        try:
            async with self.store.uow(readonly=True) as uow:
                token = self._usable(await uow.connections.get(user_id), now)
            return token if token is not None else await self._refresh(user_id, now)
        except ConnectionBroken as exc:
            if not exc.told:
                await self.tell_broken(user_id, now)
            raise

    def _usable(self, row: CalendarConnection | None, now: datetime) -> str | None:
        if row is None:
            raise NotConnected
        if row.status == ConnectionStatus.BROKEN:
            raise ConnectionBroken(told=row.broken_notified_at is not None)
        if fresh(row, now):
            assert row.access_token is not None
            return self.cipher.open(row.access_token)  # None: sealed under another key, refresh below
        return None

    async def _refresh(self, user_id: str, now: datetime) -> str:
        # The row stays locked across the call to Feishu (bounded by the client's timeout): a refresh token
        # spent by one process and then again by another would break the user's connection.
        async with self.store.uow() as uow:
            row = await uow.connections.get(user_id, for_update=True)
            token = self._usable(row, now)
            if token is not None:  # another process refreshed it while this one waited for the lock
                return token
            assert row is not None
            refresh = self.cipher.open(row.refresh_token) if row.refresh_token else None
            expired = row.refresh_expires_at is not None and row.refresh_expires_at <= now
            if refresh is None or expired:
                why = "refresh token expired" if expired else "no readable refresh token"
                await self._break(row, now, why)
                await uow.commit()
                raise ConnectionBroken
            try:
                grant = await self.client.refresh(refresh)
            except OAuthError as exc:
                if not exc.revoked:
                    log.warning("user token refresh failed: %s", exc.code, extra={"user_id": user_id})
                    raise TokenUnavailable(exc.code, retryable=exc.retryable) from exc
                await self._break(row, now, f"refresh refused ({exc.code})")
                await uow.commit()
                raise ConnectionBroken from exc
            seal_grant(row, grant, self.cipher, now)
            await uow.commit()
        log.info("user token refreshed", extra={"user_id": user_id})
        return grant.access_token

    async def _break(self, row: CalendarConnection, now: datetime, why: str) -> None:
        log.warning("calendar connection broken: %s", why, extra={"user_id": row.user_id})
        row.status = ConnectionStatus.BROKEN
        row.broken_at = now
        row.broken_notified_at = None
        # The tokens are dead: nothing is kept that could be mistaken for a working grant.
        row.access_token = row.refresh_token = None
        row.updated_at = now

    async def tell_broken(self, user_id: str, now: datetime) -> bool:
        """Tell the user their connection broke, unless they were told already; True when this call told
        them. The notice is claimed (committed) before it is sent, so two callers never both send it, and
        released when the send fails, so a later caller tries again. No transaction is open during the
        send: sending may itself need the database (shared send limits)."""
        if self.notice is None:
            return False
        async with self.store.uow() as uow:
            if not await uow.connections.claim_broken_notice(user_id, now):
                return False
            found = await uow.connections.with_user(user_id)
            await uow.commit()
        if found is None:  # pragma: no cover - deleted between the two statements
            return False
        row, user = found
        try:
            await self.notice.connection_broken(
                user.open_id, user.locale, notice_uuid(user_id, row.broken_at)
            )
        except Exception:
            log.warning("could not tell the user their calendar connection broke", exc_info=True,
                        extra={"user_id": user_id})  # fmt: skip
            async with self.store.uow() as uow:
                await uow.connections.release_broken_notice(user_id)
                await uow.commit()
            return False
        return True
