"""The pure planning engine: window, observe, candidates, ranking, texts, base_version (no I/O)."""

from __future__ import annotations

from scheduler.planning import texts
from scheduler.planning.coverage import Coverage, coverage
from scheduler.planning.engine import generate, observe, plan, rank
from scheduler.planning.pick import PickRefusal, pick
from scheduler.planning.target import effective_quadrant
from scheduler.planning.texts import grounding_tokens
from scheduler.planning.tradeoff import tradeoffs
from scheduler.planning.version import base_version
from scheduler.planning.window import busy_items, day_windows, expand_fixed_events, free_intervals

__all__ = [
    "Coverage",
    "PickRefusal",
    "base_version",
    "busy_items",
    "coverage",
    "day_windows",
    "effective_quadrant",
    "expand_fixed_events",
    "free_intervals",
    "generate",
    "grounding_tokens",
    "observe",
    "pick",
    "plan",
    "rank",
    "texts",
    "tradeoffs",
]
