"""Connecting a user's own Feishu calendar: /connect issues a signed single-use state and the authorization
link, the callback verifies it, trades the code for tokens, checks whose they are and stores them encrypted;
/disconnect deletes them."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, urlencode

from scheduler.services import effects
from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.oauth import (
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    SCOPES,
    OAuthClient,
    OAuthError,
    StateSigner,
    TokenCipher,
    UserGrant,
)
from store import Store
from store.enums import ConnectionStatus
from store.models import CalendarConnection

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
# States are kept a day past their expiry (so a late click still reads "expired", not "invalid").
STATE_KEEP = timedelta(days=1)
# The effect a new connection queues: its primary calendar subscribed to event changes
# (scheduler.services.calendar_subscription).
SUBSCRIBE_EFFECT = "calendar.subscribe"
TASK_SUBSCRIBE_EFFECT = "task.subscribe"  # scheduler.services.tasksync.SUBSCRIBE_EFFECT


class Unsubscriber(Protocol):
    async def unsubscribe_open_id(self, open_id: str, now: datetime) -> bool:
        """Stop Feishu's change pushes for the user's calendar while their token exists (best-effort)."""
        ...


class CallbackResult(StrEnum):
    CONNECTED = "connected"
    MISSING = "missing"  # no code or no state in the URL
    INVALID = "invalid"  # a state we did not sign (forged, altered) or do not know
    EXPIRED = "expired"
    USED = "used"  # the state already worked once
    DENIED = "denied"  # the user declined on Feishu's page
    WRONG_ACCOUNT = "wrong_account"  # another Feishu account than the one /connect was sent to
    FAILED = "failed"  # Feishu did not accept the code or could not be reached


@dataclass(frozen=True)
class CallbackOutcome:
    result: CallbackResult
    locale: str | None = None  # the user's language, once the state named a user


@dataclass(frozen=True)
class ConnectConfig:
    app_id: str
    accounts_domain: str  # https://accounts.feishu.cn
    public_url: str  # this deployment's public base URL

    @property
    def redirect_uri(self) -> str:
        return self.public_url + CALLBACK_PATH


class CalendarLogin:
    """The OAuth code flow for one deployment (built only when SMARTFLOW_PUBLIC_URL and
    SMARTFLOW_SECRET_KEY are set)."""

    def __init__(self, store: Store, client: OAuthClient, config: ConnectConfig, secret_key: str) -> None:
        self.store = store
        self.client = client
        self.config = config
        self.signer = StateSigner(secret_key)
        self.cipher = TokenCipher(secret_key)
        self.subscriptions: Unsubscriber | None = None  # set by the wiring with the calendar client

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": " ".join(SCOPES),
                "state": state,
                "response_type": "code",
            },
            quote_via=quote,
        )
        return f"{self.config.accounts_domain}{AUTHORIZE_PATH}?{query}"

    async def start(self, message: InboundMessage) -> Handled[str] | None:
        """/connect: a new state for the sender (valid 10 minutes, once) and the authorization link."""

        async def work(t: Turn) -> str:
            nonce = secrets.token_urlsafe(24)
            expires_at = t.now + STATE_TTL
            await t.uow.connections.forget_states(t.now - STATE_KEEP)
            t.uow.connections.add_state(nonce, t.user.id, expires_at, t.now)
            return self.authorize_url(self.signer.sign(nonce, t.user.id, expires_at))

        return await handle(self.store, message, work)

    async def complete(
        self, code: str | None, state: str | None, error: str | None, now: datetime
    ) -> CallbackOutcome:
        """The redirect back from Feishu. The state is spent before the code is traded (it works once even
        when the trade fails); nothing is stored unless the tokens belong to the user it was issued to."""
        if not state or (not code and not error):
            return CallbackOutcome(CallbackResult.MISSING)
        signed = self.signer.read(state)
        if signed is None:
            return CallbackOutcome(CallbackResult.INVALID)
        async with self.store.uow() as uow:
            user = await uow.users.get(signed.user_id)
            if user is None:
                return CallbackOutcome(CallbackResult.INVALID)
            locale, open_id = user.locale, user.open_id
            if signed.expires_at <= now:
                return CallbackOutcome(CallbackResult.EXPIRED, locale)
            if not await uow.connections.spend_state(signed.nonce, signed.user_id, now):
                row = await uow.connections.state(signed.nonce)
                if row is None or row.user_id != signed.user_id:
                    return CallbackOutcome(CallbackResult.INVALID, locale)
                if row.used_at is not None:
                    return CallbackOutcome(CallbackResult.USED, locale)
                return CallbackOutcome(CallbackResult.EXPIRED, locale)
            await uow.commit()
        if error or not code:
            return CallbackOutcome(CallbackResult.DENIED, locale)
        try:
            grant = await self.client.exchange_code(code, self.config.redirect_uri)
            owner = await self.client.user_open_id(grant.access_token)
        except OAuthError as exc:
            log.warning("authorization code not accepted: %s", exc.code, extra={"user_id": signed.user_id})
            return CallbackOutcome(CallbackResult.FAILED, locale)
        if owner != open_id:
            # Someone else's tokens: dropped here, never stored (Feishu lets them lapse).
            log.warning("authorization by another account than /connect's", extra={"user_id": signed.user_id})
            return CallbackOutcome(CallbackResult.WRONG_ACCOUNT, locale)
        await self._store(signed.user_id, grant, now)
        log.info("calendar connected", extra={"user_id": signed.user_id})
        return CallbackOutcome(CallbackResult.CONNECTED, locale)

    async def _store(self, user_id: str, grant: UserGrant, now: datetime) -> None:
        async with self.store.uow() as uow:
            row = await uow.connections.get(user_id, for_update=True)
            if row is None:
                row = CalendarConnection(user_id=user_id, created_at=now)
                uow.connections.add(row)
            seal_grant(row, grant, self.cipher, now)
            row.broken_at = row.broken_notified_at = None
            # (Re)subscribe the calendar to change events, in the worker, with this grant.
            row.subscribed_at = None
            key = f"{SUBSCRIBE_EFFECT}:{user_id}:{now.isoformat()}"
            await effects.queue(uow, user_id, SUBSCRIBE_EFFECT, key=key, payload={}, now=now)
            # ... and the tasks they can see (Feishu then pushes task changes; the sync polls as well)
            key = f"{TASK_SUBSCRIBE_EFFECT}:{user_id}:{now.isoformat()}"
            await effects.queue(uow, user_id, TASK_SUBSCRIBE_EFFECT, key=key, payload={}, now=now)
            await uow.commit()


def seal_grant(row: CalendarConnection, grant: UserGrant, cipher: TokenCipher, now: datetime) -> None:
    """Write a grant onto the connection row: tokens encrypted, expiry instants from `now`."""
    row.status = ConnectionStatus.CONNECTED
    row.scope = grant.scope
    row.access_token = cipher.seal(grant.access_token)
    row.access_expires_at = now + timedelta(seconds=grant.expires_in)
    row.refresh_token = cipher.seal(grant.refresh_token) if grant.refresh_token else None
    row.refresh_expires_at = (
        now + timedelta(seconds=grant.refresh_expires_in) if grant.refresh_token else None
    )
    row.updated_at = now


async def disconnect(
    store: Store, message: InboundMessage, unsubscriber: Unsubscriber | None = None
) -> Handled[bool] | None:
    """/disconnect: the sender's connection and its tokens deleted; False when there was none. First, while
    the tokens exist, `unsubscriber` stops Feishu's change pushes (a redelivered /disconnect finds no
    connection and calls nothing)."""
    if unsubscriber is not None:
        await unsubscriber.unsubscribe_open_id(message.open_id, message.now)

    async def work(t: Turn) -> bool:
        return await t.uow.connections.remove(t.user.id)

    return await handle(store, message, work)
