"""Errors of the planning engine: bad input only (the engine never does I/O)."""

from __future__ import annotations

from enum import StrEnum


class PlanningErrorCode(StrEnum):
    INVALID_CONTEXT = "invalid_context"


class PlanningError(Exception):
    code: PlanningErrorCode = PlanningErrorCode.INVALID_CONTEXT
    retryable = False


class PlanningInputError(PlanningError, ValueError):
    """The context cannot be planned: a naive datetime, an unknown time zone, ..."""
