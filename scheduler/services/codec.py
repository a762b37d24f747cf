"""Candidates to and from the JSON stored on a preview (lossless round trip)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from scheduler.planning.model import (
    Candidate,
    CandidateType,
    Change,
    ChangeKind,
    Disruption,
    Reason,
    ScoreComponent,
)


class CodecError(ValueError):
    """A stored candidate could not be decoded (corrupt or from an incompatible version)."""


def _dt(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _parse_dt(v: object) -> datetime | None:
    if v is None:
        return None
    dt = datetime.fromisoformat(str(v))
    if dt.tzinfo is None:
        raise CodecError(f"naive datetime in stored candidate: {v!r}")
    return dt


def _params(p: Mapping[str, object]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime | date | time) else v) for k, v in p.items()}


def encode_change(c: Change) -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "block_id": c.block_id,
        "task_id": c.task_id,
        "start": _dt(c.start),
        "end": _dt(c.end),
        "old_start": _dt(c.old_start),
        "old_end": _dt(c.old_end),
        "makeup_for": c.makeup_for,
        "day": c.day.isoformat() if c.day else None,
        "old_day_end": c.old_day_end.strftime("%H:%M") if c.old_day_end else None,
        "new_day_end": c.new_day_end.strftime("%H:%M") if c.new_day_end else None,
    }


def decode_change(d: Mapping[str, Any]) -> Change:
    try:
        return Change(
            kind=ChangeKind(d["kind"]),
            block_id=d.get("block_id"),
            task_id=d.get("task_id"),
            start=_parse_dt(d.get("start")),
            end=_parse_dt(d.get("end")),
            old_start=_parse_dt(d.get("old_start")),
            old_end=_parse_dt(d.get("old_end")),
            makeup_for=d.get("makeup_for"),
            day=date.fromisoformat(d["day"]) if d.get("day") else None,
            old_day_end=time.fromisoformat(d["old_day_end"]) if d.get("old_day_end") else None,
            new_day_end=time.fromisoformat(d["new_day_end"]) if d.get("new_day_end") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"bad stored change: {exc}") from exc


def _reason(r: Reason) -> dict[str, Any]:
    return {"code": r.code, "params": _params(r.params)}


def encode_candidate(c: Candidate, **texts: str) -> dict[str, Any]:
    """The stored form of a candidate; `texts` (summary, before, after, ...) are kept beside it for cards."""
    return {
        "id": c.id,
        "type": c.type.value,
        "changes": [encode_change(ch) for ch in c.changes],
        "score": [{"name": s.name, "value": s.value, "reason": s.reason} for s in c.score],
        "reasons": [_reason(r) for r in c.reasons],
        "risks": [_reason(r) for r in c.risks],
        "disruption": {
            "blocks_moved": c.disruption.blocks_moved,
            "minutes_moved": c.disruption.minutes_moved,
            "day_extended_minutes": c.disruption.day_extended_minutes,
        },
        "capacity_fit": c.capacity_fit,
        "risk_level": c.risk_level,
        "question": _reason(c.question) if c.question else None,
        "options": list(c.options),
        "texts": dict(texts),
    }


def decode_candidate(d: Mapping[str, Any]) -> Candidate:
    try:
        q = d.get("question")
        return Candidate(
            id=str(d["id"]),
            type=CandidateType(d["type"]),
            changes=tuple(decode_change(ch) for ch in d.get("changes", ())),
            score=tuple(
                ScoreComponent(name=s["name"], value=float(s["value"]), reason=s["reason"])
                for s in d.get("score", ())
            ),
            reasons=tuple(Reason(code=r["code"], params=r.get("params", {})) for r in d.get("reasons", ())),
            risks=tuple(Reason(code=r["code"], params=r.get("params", {})) for r in d.get("risks", ())),
            disruption=Disruption(**d.get("disruption", {})),
            capacity_fit=d.get("capacity_fit", "full"),
            risk_level=d.get("risk_level", "low"),
            question=Reason(code=q["code"], params=q.get("params", {})) if q else None,
            options=tuple(d.get("options", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"bad stored candidate: {exc}") from exc


def find_candidate(stored: object, candidate_id: str) -> Candidate | None:
    """The candidate with `candidate_id` among a preview's stored candidates, or None."""
    if not isinstance(stored, list):
        raise CodecError("stored candidates are not a list")
    for item in stored:
        if isinstance(item, Mapping) and item.get("id") == candidate_id:
            return decode_candidate(item)
    return None
