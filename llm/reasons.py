"""Stable codes for why a choice fell back to the deterministic path."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NOT_CONFIGURED = "not_configured"
    NO_CANDIDATES = "no_candidates"  # nothing the model could choose for this decision
    TIMEOUT = "timeout"  # the total budget ran out
    CONNECTION_ERROR = "connection_error"
    HTTP_ERROR = "http_error"
    RATE_LIMITED = "rate_limited"
    BAD_RESPONSE = "bad_response"  # a 2xx whose body is not a chat completion
    REFUSAL = "refusal"
    TRUNCATED = "truncated"  # finish_reason "length"
    INVALID_JSON = "invalid_json"  # not a JSON object with the four string fields
    INVALID_CHOICE = "invalid_choice"  # id unknown or not compatible with the decision
    EMPTY_TEXT = "empty_text"
    TOO_LONG = "too_long"
    WRONG_LOCALE = "wrong_locale"
    CONTAINS_LINK = "contains_link"
    UNGROUNDED = "ungrounded"  # a time or date the chosen candidate does not contain
    INTERNAL_ERROR = "internal_error"
