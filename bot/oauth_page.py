"""The small HTML page the browser shows after Feishu's authorization page sends the user back."""

from __future__ import annotations

from html import escape

from bot.texts import norm_locale, t
from scheduler.services.connect import CallbackOutcome, CallbackResult

# Nothing on the page is fetched or run; the URL (it held a code and a state) is never sent on as a referrer.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "x-content-type-options": "nosniff",
}
_STATUS = {CallbackResult.CONNECTED: 200, CallbackResult.FAILED: 502}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1f2329}h1{font-size:1.25rem}.ok{color:#2b8a3e}.no{color:#c92a2a}"
)


def oauth_page(outcome: CallbackOutcome, default_locale: str) -> tuple[int, str]:
    """(HTTP status, page) for a callback's outcome, in the user's language (the default one when the
    state named no user)."""
    locale = norm_locale(outcome.locale or default_locale)
    ok = outcome.result == CallbackResult.CONNECTED
    title = escape(t("oauth.title", locale))
    message = escape(t(f"oauth.{outcome.result.value}", locale))
    close = escape(t("oauth.close", locale))
    lang = "en" if locale == "en" else "zh-CN"
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body><main>"
        f'<h1>{title}</h1><p class="{"ok" if ok else "no"}" data-outcome="{outcome.result.value}">'
        f"{message}</p><p>{close}</p></main></body></html>"
    )
    return _STATUS.get(outcome.result, 400), page
