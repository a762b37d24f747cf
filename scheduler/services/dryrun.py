"""The dry-run report: what the pipeline would decide for a user and target, as text or stable JSON."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from llm.api import Choice, ChoiceRequest
from scheduler.planning import model as pm
from scheduler.planning import texts
from scheduler.planning.clock import zone
from scheduler.services.choice import candidate_texts, choice_labels, locale_of, target_title
from scheduler.services.codec import encode_candidate


@dataclass(frozen=True)
class DryRunReport:
    """Everything the pipeline would decide, written nowhere."""

    user_open_id: str
    user_name: str
    context: pm.PlanningContext
    result: pm.PlanResult
    request: ChoiceRequest | None  # None when the decision is close
    choice: Choice | None
    base_version: str


DRY_RUN_SCHEMA = "smartflow.dryrun.v1"  # bump when the JSON shape changes incompatibly


def _reason_json(r: pm.Reason, loc: str, render: Any) -> dict[str, Any]:
    return {"code": r.code, "params": _plain(dict(r.params)), "text": render(r, loc)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _candidate_json(c: pm.Candidate, rank: int, report: DryRunReport) -> dict[str, Any]:
    ctx = report.context
    loc = locale_of(ctx)
    t = candidate_texts(c, ctx)
    by_code = {r.code: r for r in (*c.reasons, *c.risks)}
    stored = encode_candidate(c)
    return {
        "rank": rank,
        "id": c.id,
        "type": c.type.value,
        "label": t.label,
        "summary": t.summary,
        "before": t.before,
        "after": t.after,
        "changes": stored["changes"],
        "score": [
            {
                "name": s.name,
                "value": s.value,
                "reason": s.reason,
                "text": texts.reason_text(by_code.get(s.reason, pm.Reason(s.reason)), loc),
            }
            for s in c.score
        ],
        "reasons": [_reason_json(r, loc, texts.reason_text) for r in c.reasons],
        "risks": [_reason_json(r, loc, texts.risk_text) for r in c.risks],
        "disruption": stored["disruption"],
        "capacity_fit": c.capacity_fit,
        "risk_level": c.risk_level,
        "question": texts.question(c, ctx, loc) if c.question else None,
        "choices": choice_labels(c, ctx),
        "chosen": report.choice is not None and report.choice.selected_candidate_id == c.id,
    }


def dry_run_json(report: DryRunReport) -> dict[str, Any]:
    """The documented shape `smartflow.dryrun.v1` (docs/cli-json.md)."""
    ctx = report.context
    loc = locale_of(ctx)
    tz = zone(ctx.user.timezone)
    obs = report.result.observation
    task = next((x for x in ctx.tasks if x.id == ctx.target.task_id), None)
    choice = report.choice
    return {
        "schema": DRY_RUN_SCHEMA,
        "written": False,
        "user": {
            "open_id": report.user_open_id,
            "name": report.user_name,
            "timezone": ctx.user.timezone,
            "locale": loc,
        },
        "now": ctx.now.astimezone(tz).isoformat(timespec="seconds"),
        "window": {
            "start": ctx.now.astimezone(tz).isoformat(timespec="seconds"),
            "end": (ctx.now + timedelta(hours=ctx.horizon_hours))
            .astimezone(tz)
            .isoformat(timespec="seconds"),
        },
        "target": {
            "kind": ctx.target.kind.value,
            "task": {"id": task.id, "key": task.key, "title": task.title} if task else None,
            "title": target_title(ctx),
            "block_id": ctx.target.block_id,
            "remaining_minutes": ctx.target.remaining_minutes,
            "choices": list(ctx.target.choices),
        },
        "decision": obs.decision.value,
        "decision_text": texts.decision_text(obs.decision.value, loc),
        "metrics": _plain(dataclasses.asdict(obs.metrics)),
        "issues": [
            {"code": i.code, "params": _plain(dict(i.params)), "text": texts.issue_text(i, loc)}
            for i in obs.issues
        ],
        "candidates": [_candidate_json(c, n, report) for n, c in enumerate(report.result.candidates, 1)],
        "choice": None
        if choice is None
        else {
            "selected_candidate_id": choice.selected_candidate_id,
            "source": choice.source,
            "fallback_reason": choice.fallback_reason,
            "model": choice.model,
            "latency_ms": choice.latency_ms,
            "prompt_tokens": choice.prompt_tokens,
            "completion_tokens": choice.completion_tokens,
            "explanation": choice.explanation,
            "notification_summary": choice.notification_summary,
            "ask_user_question": choice.ask_user_question,
        },
        "base_version": report.base_version,
    }


def _num(value: float) -> str:
    """Fixed-point, never an exponent: the disruption component is a lexicographic sum (candidate type
    tier x 100 000 000 + blocks moved x 100 000 + minutes moved + minutes the day is extended), whose
    digits only read correctly in full."""
    if not math.isfinite(value):
        return "-inf" if value < 0 else "inf"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def dry_run_text(report: DryRunReport) -> str:
    """A readable listing of the same content as dry_run_json."""
    d = dry_run_json(report)
    user, target, metrics = d["user"], d["target"], d["metrics"]
    lines = [
        f"dry run for {user['name']} ({user['open_id']}) · {user['timezone']} · nothing was written",
        f"window   {d['window']['start']} → {d['window']['end']}",
    ]
    what = f"{target['kind']} {target['title'] or '-'}"
    if target["task"] and target["task"]["key"]:
        what += f" (key {target['task']['key']})"
    if target["block_id"]:
        what += f" · block {target['block_id']}"
    if target["remaining_minutes"] is not None:
        what += f" · {target['remaining_minutes']} min left"
    if target["choices"]:
        what += f" · choices {', '.join(target['choices'])}"
    lines += [f"target   {what}", f"decision {d['decision']} ({d['decision_text']})"]
    lines.append("metrics  " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    lines.append("issues")
    lines += [f"  - {i['code']}: {i['text']}" for i in d["issues"]] or ["  (none)"]
    lines.append("candidates (ranked; the deterministic choice first)")
    for c in d["candidates"]:
        mark = "  ← chosen" if c["chosen"] else ""
        lines.append(
            f"  {c['rank']}. {c['id']} {c['type']} · {c['label']} · risk {c['risk_level']}"
            f" · fit {c['capacity_fit']}{mark}"
        )
        lines.append(f"     {c['summary']}")
        if c["before"] or c["after"]:
            lines += [f"     before: {c['before']}", f"     after:  {c['after']}"]
        for s in c["score"]:
            lines.append(f"     score {s['name']:<15} {_num(s['value']):>10}  {s['reason']}: {s['text']}")
        lines += [f"     reason: {r['text']}" for r in c["reasons"]]
        lines += [f"     risk:   {r['text']}" for r in c["risks"]]
        lines += [f"     choice: {x['block_id']} {x['label']}" for x in c["choices"]]
    choice = d["choice"]
    if choice is None:
        lines.append("choice   none (close: no card would be sent)")
    else:
        via = choice["source"] + (f" ({choice['fallback_reason']})" if choice["fallback_reason"] else "")
        lines += [
            f"choice   {choice['selected_candidate_id']} via {via}",
            f"  explanation: {choice['explanation']}",
            f"  summary:     {choice['notification_summary']}",
        ]
        if choice["ask_user_question"]:
            lines.append(f"  question:    {choice['ask_user_question']}")
    lines.append(f"base_version {d['base_version']}")
    return "\n".join(lines)
