"""Admin replies in the admin's language: the dry-run report, pipeline and trigger states, local times."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.texts import has, norm_locale, t
from scheduler.services.dryrun import DryRunReport, dry_run_json


def local(at: datetime, timezone: str) -> str:
    """`at` in `timezone`, e.g. 11-30 15:00 (the form every other time the bot shows takes)."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def word(group: str, code: str | None, locale: str) -> str:
    """A stored state or code (`admin.word.<group>.<code>`) in words; an unknown code stays as it is."""
    key = f"admin.word.{group}.{code}"
    return t(key, locale) if code and has(key) else (code or "-")


def _num(value: float) -> str:
    return f"{value + 0.0:g}"  # no "-0"


def dry_run_reply(report: DryRunReport, locale: str) -> str:
    """The dry-run report for an admin: labels, reasons and candidate texts in the admin's `locale`, times
    in the target user's time zone. The choice's explanation and summary stay as the user would read them."""
    loc = norm_locale(locale)
    ctx = report.context
    # The planning texts follow the context's locale: render them in the admin's instead.
    d = dry_run_json(replace(report, context=replace(ctx, user=replace(ctx.user, locale=loc))))
    tz = d["user"]["timezone"]

    def w(label: str, **params: Any) -> str:
        return t(f"admin.dryrun.{label}", loc, **params)

    start, end = (datetime.fromisoformat(d["window"][k]) for k in ("start", "end"))
    lines = [
        w("head", name=d["user"]["name"], open_id=d["user"]["open_id"], tz=tz),
        w("window", start=local(start, tz), end=local(end, tz)),
    ]
    target = d["target"]
    what = [word("target", target["kind"], loc) + " " + (target["title"] or "-")]
    if target["task"] and target["task"]["key"]:
        what.append(w("key", ref=target["task"]["key"]))
    if target["block_id"]:
        what.append(w("block", block=target["block_id"]))
    if target["remaining_minutes"] is not None:
        what.append(w("left", minutes=target["remaining_minutes"]))
    if target["choices"]:
        what.append(w("choices", choices=", ".join(target["choices"])))
    lines += [
        w("target", what=" · ".join(what)),
        w("decision", decision=d["decision"], text=d["decision_text"]),
        w("metrics", metrics=", ".join(f"{k}={v}" for k, v in d["metrics"].items())),
        w("issues"),
    ]
    lines += [f"  - {i['code']}: {i['text']}" for i in d["issues"]] or ["  " + w("none")]
    lines.append(w("candidates"))
    for c in d["candidates"]:
        mark = "  " + w("chosen") if c["chosen"] else ""
        risk = t(f"risk.{c['risk_level']}", loc) if has(f"risk.{c['risk_level']}") else c["risk_level"]
        lines.append(
            f"  {c['rank']}. {c['id']} {c['type']} · {c['label']} · "
            + w("risk_fit", risk=risk, fit=c["capacity_fit"])
            + mark
        )
        lines.append(f"     {c['summary']}")
        if c["before"] or c["after"]:
            lines += [f"     {w('before')}: {c['before']}", f"     {w('after')}: {c['after']}"]
        for s in c["score"]:
            lines.append(
                f"     {w('score')} {s['name']:<15} {_num(s['value']):>8}  {s['reason']}: {s['text']}"
            )
        lines += [f"     {w('reason')}: {r['text']}" for r in c["reasons"]]
        lines += [f"     {w('risk')}: {r['text']}" for r in c["risks"]]
        lines += [f"     {w('choice')}: {x['block_id']} {x['label']}" for x in c["choices"]]
    choice = d["choice"]
    if choice is None:
        lines.append(w("no_choice"))
    else:
        via = word("source", choice["source"], loc)
        if choice["fallback_reason"]:
            via += f" ({choice['fallback_reason']})"
        lines += [
            w("picked", candidate=choice["selected_candidate_id"], via=via),
            "  " + w("user_reads", lang=word("lang", norm_locale(ctx.user.locale), loc)),
            f"  {w('explanation')}: {choice['explanation']}",
            f"  {w('summary')}: {choice['notification_summary']}",
        ]
        if choice["ask_user_question"]:
            lines.append(f"  {w('question')}: {choice['ask_user_question']}")
    lines.append(f"base_version {d['base_version']}")
    return "\n".join(lines)
