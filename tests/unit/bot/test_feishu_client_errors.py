"""Classification of Feishu answers into retryable and permanent errors."""

from __future__ import annotations

import pytest

from bot.feishu.errors import (
    FeishuBadResponseError,
    FeishuErrorKind,
    FeishuPermanentError,
    FeishuRateLimitedError,
    FeishuServerError,
    FeishuTokenError,
    classify,
)


def test_success_is_not_an_error() -> None:
    assert classify(200, 0, "success", {}) is None


@pytest.mark.parametrize(
    ("status", "code", "headers", "kind", "retryable", "retry_after"),
    [
        (429, 99991400, {"x-ogw-ratelimit-reset": "3"}, FeishuErrorKind.RATE_LIMITED, True, 3.0),
        (400, 99991400, {}, FeishuErrorKind.RATE_LIMITED, True, None),
        (400, 230020, {}, FeishuErrorKind.RATE_LIMITED, True, None),
        (400, 230020, {"x-ogw-ratelimit-reset": "bogus"}, FeishuErrorKind.RATE_LIMITED, True, None),
        (429, None, {}, FeishuErrorKind.RATE_LIMITED, True, None),
        (503, None, {}, FeishuErrorKind.SERVER, True, None),
        (500, 1500, {}, FeishuErrorKind.SERVER, True, None),
        (400, 99991663, {}, FeishuErrorKind.TOKEN, True, None),
        (401, 99991661, {}, FeishuErrorKind.TOKEN, True, None),
        (400, 99991668, {}, FeishuErrorKind.TOKEN, True, None),
        (400, 230001, {}, FeishuErrorKind.REJECTED, False, None),
        (400, 230002, {}, FeishuErrorKind.REJECTED, False, None),
        (400, 230013, {}, FeishuErrorKind.REJECTED, False, None),
        (400, 230025, {}, FeishuErrorKind.REJECTED, False, None),
        (200, 230099, {}, FeishuErrorKind.REJECTED, False, None),
        (403, 99991672, {}, FeishuErrorKind.REJECTED, False, None),
        (404, None, {}, FeishuErrorKind.REJECTED, False, None),
        (200, None, {}, FeishuErrorKind.BAD_RESPONSE, True, None),
    ],
)
def test_classification(
    status: int,
    code: int | None,
    headers: dict[str, str],
    kind: FeishuErrorKind,
    retryable: bool,
    retry_after: float | None,
) -> None:
    error = classify(status, code, "msg", headers)

    assert error is not None
    assert (error.kind, error.retryable, error.retry_after, error.http_status) == (
        kind,
        retryable,
        retry_after,
        status,
    )


def test_codes_are_feishu_numbers_or_stable_words() -> None:
    assert classify(400, 230001, "m", {}).code == 230001  # type: ignore[union-attr]
    assert classify(502, None, "", {}).code == "http_502"  # type: ignore[union-attr]
    assert classify(200, None, "", {}).code == "bad_response"  # type: ignore[union-attr]


def test_the_tree_lets_callers_catch_by_family() -> None:
    assert isinstance(classify(400, 99991663, "", {}), FeishuTokenError)
    assert isinstance(classify(429, None, "", {}), FeishuRateLimitedError)
    assert isinstance(classify(504, None, "", {}), FeishuServerError)
    assert isinstance(classify(400, 230001, "", {}), FeishuPermanentError)
    assert isinstance(classify(200, None, "", {}), FeishuBadResponseError)
