"""Feishu's OAuth endpoints behind the scheduler's OAuthClient port: the v2 token endpoint (code and refresh
grants) and v1 user_info, over one pooled httpx client. Tokens never reach a log line."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from scheduler.services.oauth import OAuthError, UserGrant

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/authen/v2/oauth/token"  # noqa: S105 (a URL path)
USER_INFO_PATH = "/open-apis/authen/v1/user_info"
# The token endpoint's codes for a grant that can never work again (invalid, expired, spent or revoked
# refresh token; a code already used or expired): the user must authorize again.
REVOKED_CODES = frozenset({20026, 20037, 20064, 20073, 20074})


class FeishuOAuthClient:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        domain: str,
        timeout_seconds: float = 10.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._http = httpx.AsyncClient(
            base_url=domain.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"User-Agent": "smartflow-bot"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def exchange_code(self, code: str, redirect_uri: str) -> UserGrant:
        body = {
            "grant_type": "authorization_code",
            "client_id": self._app_id,
            "client_secret": self._app_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        return _grant(await self._token(body, "authorization_code"))

    async def refresh(self, refresh_token: str) -> UserGrant:
        body = {
            "grant_type": "refresh_token",
            "client_id": self._app_id,
            "client_secret": self._app_secret,
            "refresh_token": refresh_token,
        }
        return _grant(await self._token(body, "refresh_token"))

    async def user_open_id(self, access_token: str) -> str:
        answer = await self._request("authen.user_info", "GET", USER_INFO_PATH, access_token=access_token)
        status, data = answer
        code = data.get("code")
        if status != 200 or code != 0:
            raise OAuthError(str(code if code is not None else f"http_{status}"), str(data.get("msg", "")))
        info = data.get("data")
        open_id = info.get("open_id") if isinstance(info, dict) else None
        if not isinstance(open_id, str) or not open_id:
            raise OAuthError("bad_response", "user_info without an open_id")
        return open_id

    async def _token(self, body: dict[str, str], grant: str) -> dict[str, Any]:
        status, data = await self._request(f"authen.oauth.token[{grant}]", "POST", TOKEN_PATH, json=body)
        code = data.get("code")
        if status == 200 and code == 0:
            return data
        error = str(data.get("error", ""))
        revoked = (isinstance(code, int) and code in REVOKED_CODES) or (
            status == 400 and error == "invalid_grant"
        )
        retryable = not revoked and (status >= 500 or status == 429)
        name = str(code) if code is not None else f"http_{status}"
        raise OAuthError(name, error or str(data.get("msg", "")), revoked=revoked, retryable=retryable)

    async def _request(
        self,
        name: str,
        method: str,
        path: str,
        *,
        json: dict[str, str] | None = None,
        access_token: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else None
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            log.warning("feishu %s timed out after %.3fs", name, time.perf_counter() - started)
            raise OAuthError("timeout", retryable=True) from exc
        except httpx.HTTPError as exc:
            log.warning("feishu %s failed: %s", name, type(exc).__name__)
            raise OAuthError("network", type(exc).__name__, retryable=True) from exc
        elapsed = time.perf_counter() - started
        try:
            data = response.json()
        except ValueError:
            data = None
        code = data.get("code") if isinstance(data, dict) else None
        log.info("feishu %s -> HTTP %s code %s in %.3fs", name, response.status_code, code, elapsed)
        if not isinstance(data, dict):
            raise OAuthError(
                f"http_{response.status_code}", "not JSON", retryable=response.status_code >= 500
            )
        return response.status_code, data


def _grant(data: dict[str, Any]) -> UserGrant:
    access, refresh = data.get("access_token"), data.get("refresh_token", "")
    expires, refresh_expires = data.get("expires_in"), data.get("refresh_token_expires_in", 0)
    if not isinstance(access, str) or not access or not isinstance(expires, int) or expires <= 0:
        raise OAuthError("bad_response", "token answer without access_token / expires_in")
    if not isinstance(refresh, str) or not isinstance(refresh_expires, int):
        raise OAuthError("bad_response", "token answer with a malformed refresh_token")
    return UserGrant(access, expires, refresh, refresh_expires, str(data.get("scope", "")))
