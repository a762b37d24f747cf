"""The fake Feishu's user authorization (OAuth 2.0 code flow), shaped as Feishu documents it.

- The authorization page (`{accounts domain}/open-apis/authen/v1/authorize?client_id&redirect_uri&scope&state
  &response_type=code`) is a browser step, so tests play it with `authorize(url, open_id)`: the URL the
  browser is sent back to, `redirect_uri?code=...&state=...`, as if that user consented (`decline` gives
  `?error=access_denied&state=...`). A code works once, for five minutes, with the same redirect_uri.
- `POST /open-apis/authen/v2/oauth/token` with a JSON body: `grant_type=authorization_code` (client_id,
  client_secret, code, redirect_uri) or `grant_type=refresh_token` (client_id, client_secret, refresh_token).
  Success is top-level `{code: 0, access_token, expires_in, refresh_token, refresh_token_expires_in, scope,
  token_type: "Bearer"}` (a refresh token only with offline_access); a failure is HTTP 400 with `{code, error,
  error_description}`. A refresh token works once: each refresh issues a new one, and the old one then gets
  20073; a revoked grant gets 20064, an unknown token 20026, an expired one 20037.
- `GET /open-apis/authen/v1/user_info` with `Authorization: Bearer <user access token>`: `{code: 0, msg,
  data: {name, en_name, open_id, union_id, tenant_key, ...}}`; an unknown or expired token gets 99991668.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.fakes.fake_feishu import FakeFeishu

TOKEN_PATH = "/open-apis/authen/v2/oauth/token"
USER_INFO_PATH = "/open-apis/authen/v1/user_info"
AUTHORIZE_PATH = "/open-apis/authen/v1/authorize"
CODE_SECONDS = 300.0
ACCESS_SECONDS = 7200
REFRESH_SECONDS = 7 * 24 * 3600
TENANT_KEY = "fake_tenant"


@dataclass(frozen=True)
class TokenCall:
    """One request to the token endpoint, as it arrived (secrets included: it is a test fake)."""

    grant_type: str
    body: dict[str, Any]
    at: float  # time.monotonic()
    code: int  # what it was answered with (0: tokens issued)


@dataclass
class _Grant:
    open_id: str
    scope: str
    revoked: bool = False


class FakeOAuth:
    """Codes, user access tokens and refresh tokens (thread-safe: the server runs on its own thread)."""

    def __init__(self, fake: FakeFeishu) -> None:
        self._fake = fake
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._codes: dict[str, tuple[str, str, str, float]] = {}  # code -> open_id, redirect, scope, exp
            self._used_codes: set[str] = set()
            self._access: dict[str, tuple[_Grant, float]] = {}  # token -> grant, expires (time.time())
            self._refresh: dict[str, tuple[_Grant, float]] = {}
            self._spent_refresh: set[str] = set()
            self._calls: list[TokenCall] = []
            self.refresh_delay = 0.0  # seconds a refresh takes (to make races between processes real)
            self.access_seconds = ACCESS_SECONDS

    # ---- test-facing API -------------------------------------------------------------------------------
    def authorize(self, url: str, open_id: str) -> str:
        """The browser step: `open_id` consents on the authorization page at `url`; returns the URL Feishu
        sends the browser back to. Raises ValueError where Feishu's page would show an error."""
        params = self._authorize_params(url)
        code = f"fake-code-{next(self._ids)}"
        with self._lock:
            self._codes[code] = (open_id, params["redirect_uri"], params["scope"], time.time() + CODE_SECONDS)
        return f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}"

    def decline(self, url: str) -> str:
        params = self._authorize_params(url)
        return f"{params['redirect_uri']}?{urlencode({'error': 'access_denied', 'state': params['state']})}"

    def _authorize_params(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        if parts.path != AUTHORIZE_PATH:
            raise ValueError(f"not the authorization page: {parts.path}")
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if query.get("client_id") != self._fake.app_id:
            raise ValueError("unknown client_id")
        if query.get("response_type", "code") != "code":
            raise ValueError("response_type must be code")
        for name in ("redirect_uri", "state", "scope"):
            if not query.get(name):
                raise ValueError(f"{name} is missing")
        return query

    def revoke(self, open_id: str) -> None:
        """The user revokes the app's authorization (or an admin does): every grant of theirs is dead."""
        with self._lock:
            for grant, _ in [*self._access.values(), *self._refresh.values()]:
                if grant.open_id == open_id:
                    grant.revoked = True

    @property
    def calls(self) -> list[TokenCall]:
        with self._lock:
            return list(self._calls)

    def calls_of(self, grant_type: str) -> list[TokenCall]:
        return [c for c in self.calls if c.grant_type == grant_type]

    def user_of(self, authorization: str) -> str | None:
        """The open_id a `Bearer <user access token>` header stands for (None: unknown, expired, revoked)."""
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        with self._lock:
            found = self._access.get(token)
        if found is None or found[1] <= time.time() or found[0].revoked:
            return None
        return found[0].open_id

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far (a test looks for them where they must not be)."""
        with self._lock:
            return [*self._access, *self._refresh, *self._spent_refresh]

    # ---- HTTP -----------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        if (early := await self._fake._prelude("oauth_token")) is not None:
            return early
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._refuse({}, "", 20001, "invalid_request", "the body is not a JSON object")
        grant_type = str(body.get("grant_type", ""))
        if body.get("client_id") != self._fake.app_id or body.get("client_secret") != self._fake.app_secret:
            return self._refuse(body, grant_type, 20002, "invalid_client", "client_id or client_secret wrong")
        if grant_type == "authorization_code":
            return self._code_grant(body)
        if grant_type == "refresh_token":
            if self.refresh_delay:
                await asyncio.sleep(self.refresh_delay)
            return self._refresh_grant(body)
        return self._refuse(body, grant_type, 20001, "unsupported_grant_type", "unknown grant_type")

    def _code_grant(self, body: dict[str, Any]) -> Response:
        code = str(body.get("code", ""))
        with self._lock:
            found = self._codes.pop(code, None)
            if found is None:
                used = code in self._used_codes
                return self._refuse_locked(
                    body, "authorization_code", 20065 if used else 20003, "invalid_grant",
                    "the code was already used" if used else "the code is not valid",
                )  # fmt: skip
            self._used_codes.add(code)
            open_id, redirect_uri, scope, expires = found
            if expires <= time.time():
                return self._refuse_locked(body, "authorization_code", 20004, "invalid_grant", "code expired")
            if body.get("redirect_uri") != redirect_uri:
                return self._refuse_locked(
                    body, "authorization_code", 20071, "invalid_grant", "redirect_uri differs"
                )
            return self._issue_locked(body, "authorization_code", _Grant(open_id, scope))

    def _refresh_grant(self, body: dict[str, Any]) -> Response:
        token = str(body.get("refresh_token", ""))
        with self._lock:
            if token in self._spent_refresh:
                return self._refuse_locked(body, "refresh_token", 20073, "invalid_grant", "already used")
            found = self._refresh.pop(token, None)
            if found is None:
                return self._refuse_locked(body, "refresh_token", 20026, "invalid_grant", "not valid")
            grant, expires = found
            self._spent_refresh.add(token)
            if grant.revoked:
                return self._refuse_locked(body, "refresh_token", 20064, "invalid_grant", "revoked")
            if expires <= time.time():
                return self._refuse_locked(body, "refresh_token", 20037, "invalid_grant", "expired")
            return self._issue_locked(body, "refresh_token", grant)

    def _issue_locked(self, body: dict[str, Any], grant_type: str, grant: _Grant) -> Response:
        now = time.time()
        n = next(self._ids)
        access = f"u-fake-access-{n}-{grant.open_id}"
        self._access[access] = (grant, now + self.access_seconds)
        answer: dict[str, Any] = {
            "code": 0,
            "access_token": access,
            "expires_in": self.access_seconds,
            "scope": grant.scope,
            "token_type": "Bearer",
        }
        if "offline_access" in grant.scope.split():
            refresh = f"ur-fake-refresh-{n}-{grant.open_id}"
            self._refresh[refresh] = (grant, now + REFRESH_SECONDS)
            answer |= {"refresh_token": refresh, "refresh_token_expires_in": REFRESH_SECONDS}
        self._calls.append(TokenCall(grant_type, dict(body), time.monotonic(), 0))
        return JSONResponse(answer)

    def _refuse(self, body: dict[str, Any], grant_type: str, code: int, error: str, why: str) -> Response:
        with self._lock:
            return self._refuse_locked(body, grant_type, code, error, why)

    def _refuse_locked(
        self, body: dict[str, Any], grant_type: str, code: int, error: str, why: str
    ) -> Response:
        self._calls.append(TokenCall(grant_type, dict(body), time.monotonic(), code))
        return JSONResponse({"code": code, "error": error, "error_description": why}, status_code=400)

    async def user_info(self, request: Request) -> Response:
        if (early := await self._fake._prelude("user_info")) is not None:
            return early
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            found = self._access.get(token)
        if found is None or found[1] <= time.time() or found[0].revoked:
            return JSONResponse(
                {"code": 99991668, "msg": "Invalid access token for authorization."}, status_code=400
            )
        open_id = found[0].open_id
        data = {
            "name": open_id.removeprefix("ou_").title(),
            "en_name": open_id.removeprefix("ou_").title(),
            "avatar_url": "",
            "open_id": open_id,
            "union_id": "on_" + open_id.removeprefix("ou_"),
            "tenant_key": TENANT_KEY,
        }
        return JSONResponse({"code": 0, "msg": "success", "data": data})
