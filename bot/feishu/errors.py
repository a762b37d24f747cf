"""Feishu Open API errors: one tree, classified once as retryable or permanent."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

# Token codes: the cached tenant token is no longer accepted; evict it and retry once.
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991665, 99991666, 99991668})
# Frequency limits: 230020 is the IM per-user / per-chat 5 QPS limit, 99991400 the gateway limit (HTTP 429),
# 99991402/11232 the app-level and custom-bot flow control.
RATE_LIMIT_CODES = frozenset({230020, 99991400, 99991402, 11232})
RATE_LIMIT_RESET_HEADER = "x-ogw-ratelimit-reset"


class FeishuErrorKind(StrEnum):
    NETWORK = "network"
    TIMEOUT = "timeout"
    SERVER = "server"
    RATE_LIMITED = "rate_limited"
    TOKEN = "token"  # noqa: S105 (a kind, not a secret)
    BAD_RESPONSE = "bad_response"
    REJECTED = "rejected"
    CARD_TOO_LARGE = "card_too_large"


class FeishuError(Exception):
    """A Feishu call failed.

    `code` is Feishu's numeric code when the platform sent one, else a stable string naming what went wrong
    (`network`, `timeout`, `http_502`, ...). `retryable` says whether sending the same request again (with the
    same `uuid`) may succeed; `retry_after` is the platform's own hint in seconds, when it gave one.
    """

    kind: FeishuErrorKind = FeishuErrorKind.REJECTED

    def __init__(
        self,
        code: str | int,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"feishu {code}: {message}" if message else f"feishu {code}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.http_status = http_status


class FeishuTransientError(FeishuError):
    """Trying again later may succeed."""

    def __init__(
        self,
        code: str | int,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(code, message, retryable=True, retry_after=retry_after, http_status=http_status)


class FeishuNetworkError(FeishuTransientError):
    kind = FeishuErrorKind.NETWORK


class FeishuTimeoutError(FeishuTransientError):
    kind = FeishuErrorKind.TIMEOUT


class FeishuServerError(FeishuTransientError):
    kind = FeishuErrorKind.SERVER


class FeishuBadResponseError(FeishuTransientError):
    """The answer could not be read (a proxy's HTML page, no message_id); the outcome is unknown."""

    kind = FeishuErrorKind.BAD_RESPONSE


class FeishuRateLimitedError(FeishuTransientError):
    kind = FeishuErrorKind.RATE_LIMITED


class FeishuTokenError(FeishuTransientError):
    """The tenant token was refused even after one refresh."""

    kind = FeishuErrorKind.TOKEN


class FeishuPermanentError(FeishuError):
    """Sending the same request again cannot help (content, permission, configuration)."""

    def __init__(self, code: str | int, message: str, *, http_status: int | None = None) -> None:
        super().__init__(code, message, retryable=False, http_status=http_status)


class FeishuCardTooLargeError(FeishuPermanentError):
    kind = FeishuErrorKind.CARD_TOO_LARGE


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `x-ogw-ratelimit-reset`, or None when absent or unreadable."""
    raw = headers.get(RATE_LIMIT_RESET_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def classify(
    http_status: int, code: int | None, message: str, headers: Mapping[str, str]
) -> FeishuError | None:
    """The error for a Feishu answer, or None when it is a success (HTTP 2xx and code 0)."""
    if 200 <= http_status < 300 and code == 0:
        return None
    retry_after = parse_retry_after(headers)
    if code is not None and code in TOKEN_CODES:
        return FeishuTokenError(code, message, http_status=http_status)
    if http_status == 429 or (code is not None and code in RATE_LIMIT_CODES):
        return FeishuRateLimitedError(
            code if code is not None else "http_429",
            message,
            retry_after=retry_after,
            http_status=http_status,
        )
    if http_status >= 500:
        return FeishuServerError(
            code if code is not None else f"http_{http_status}", message, http_status=http_status
        )
    if code is None:
        # A 2xx/4xx answer without a Feishu code: nobody can tell what happened to the request.
        if 200 <= http_status < 300:
            return FeishuBadResponseError("bad_response", message, http_status=http_status)
        return FeishuPermanentError(f"http_{http_status}", message, http_status=http_status)
    return FeishuPermanentError(code, message, http_status=http_status)
