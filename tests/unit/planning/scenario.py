"""Load the golden scenarios and render candidates as text (the builder is scheduler.planning.scenario)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from scheduler.planning.model import Candidate, Change, ChangeKind
from scheduler.planning.scenario import build_context

__all__ = ["GOLDEN_DIR", "build_context", "load_golden", "render", "render_change"]

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"


def _hm(dt: datetime | None, tz: ZoneInfo) -> str:
    assert dt is not None
    return f"{dt.astimezone(tz):%H:%M}"


def render_change(c: Change, tz: ZoneInfo) -> str:
    if c.kind == ChangeKind.EXTEND_DAY:
        assert c.day
        assert c.old_day_end
        assert c.new_day_end
        return f"extend {c.day:%m-%d} {c.old_day_end:%H:%M}>{c.new_day_end:%H:%M}"
    assert c.start is not None
    span = f"{c.start.astimezone(tz):%m-%d} {_hm(c.start, tz)}-{_hm(c.end, tz)}"
    if c.kind == ChangeKind.ADD_BLOCK:
        return f"add {c.task_id} {span}"
    return f"{c.kind.value.split('_')[0]} {c.block_id} {_hm(c.old_start, tz)}-{_hm(c.old_end, tz)}>{span}"


def render(c: Candidate, tz: ZoneInfo) -> str:
    if not c.is_change:
        extra = f" [{','.join(c.options)}]" if c.options else ""
        q = f" {c.question.code}" if c.question else ""
        return f"{c.type.value}:{q}{extra}".rstrip(":")
    return f"{c.type.value}: " + "; ".join(render_change(ch, tz) for ch in c.changes)


def load_golden() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for p in sorted(GOLDEN_DIR.glob("*.yaml")):
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        out.append((p.stem, data))
    return out
