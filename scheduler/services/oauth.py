"""Feishu user authorization pieces: the scopes, signed single-use states, tokens encrypted at rest, and the
port to Feishu's token and user-info endpoints (bot.feishu.oauth implements it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken

# What /connect asks for: offline_access for a refresh token; reading the calendar and its events; writing
# the blocks the user applies as events.
SCOPES = (
    "offline_access",
    "calendar:calendar",
    "calendar:calendar:read",
    "calendar:calendar.event:read",
    "calendar:calendar.event:create",
    "calendar:calendar.event:update",
    "calendar:calendar.event:delete",
    "task:task:read",  # Feishu Tasks read into the user's tasks (scheduler.services.tasksync)
    "task:task:write",  # a task done here is completed in Feishu too
)
CALLBACK_PATH = "/oauth/feishu/callback"
AUTHORIZE_PATH = "/open-apis/authen/v1/authorize"
_STATE_CONTEXT = b"smartflow oauth state v1"


class OAuthError(Exception):
    """Feishu refused or could not answer a token or user-info request. `code` is Feishu's (or network,
    timeout, bad_response); `revoked`: the grant itself is dead (the user must authorize again)."""

    def __init__(
        self, code: str, message: str = "", *, revoked: bool = False, retryable: bool = False
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.revoked = revoked
        self.retryable = retryable


@dataclass(frozen=True)
class UserGrant:
    """What the token endpoint answers; the tokens never show in a repr (or a log line made from one)."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    refresh_expires_in: int
    scope: str


class OAuthClient(Protocol):
    """Feishu's OAuth endpoints: POST /open-apis/authen/v2/oauth/token, GET /open-apis/authen/v1/user_info."""

    async def exchange_code(self, code: str, redirect_uri: str) -> UserGrant:
        """The grant for an authorization code (grant_type=authorization_code). Raises OAuthError."""
        ...

    async def refresh(self, refresh_token: str) -> UserGrant:
        """A new grant for a refresh token, which Feishu then no longer accepts. Raises OAuthError
        (revoked=True when the refresh token is invalid, expired, used or revoked)."""
        ...

    async def user_open_id(self, access_token: str) -> str:
        """The open_id of the user a user access token belongs to. Raises OAuthError."""
        ...


class TokenCipher:
    """Tokens at rest: Fernet (AES-128-CBC plus HMAC-SHA256) under SMARTFLOW_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(secret_key.encode("ascii"))

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The token, or None when `sealed` was not made under this key (the key changed) or is damaged."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            return None


@dataclass(frozen=True)
class SignedState:
    """What a state that verified says: which nonce (row), which user, until when."""

    nonce: str
    user_id: str
    expires_at: datetime


class StateSigner:
    """`state` values: "<nonce>.<user id>.<expiry, unix s>.<HMAC-SHA256>", keyed from the secret key (a key
    of its own, derived, so the state MAC and the token cipher never share one)."""

    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode("ascii"), _STATE_CONTEXT, hashlib.sha256).digest()

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, nonce: str, user_id: str, expires_at: datetime) -> str:
        payload = f"{nonce}.{user_id}.{int(expires_at.timestamp())}"
        return f"{payload}.{self._mac(payload)}"

    def read(self, state: str) -> SignedState | None:
        """The state's contents when its MAC is ours, else None (forged, altered, truncated)."""
        parts = state.split(".")
        if len(parts) != 4 or not all(parts) or not parts[2].isdecimal() or len(parts[2]) > 12:
            return None
        payload = ".".join(parts[:3])
        try:
            payload.encode("ascii")
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(self._mac(payload), parts[3]):
            return None
        return SignedState(parts[0], parts[1], datetime.fromtimestamp(int(parts[2]), UTC))
