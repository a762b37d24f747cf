"""Template texts (zh, en) for candidates, issues and decisions, and the grounding tokens of a candidate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache

from scheduler.planning.catalog import (
    DECISIONS,
    ISSUES,
    QUESTIONS,
    REASONS,
    RISKS,
    SUMMARIES,
    TRADEOFFS,
    UNTITLED_BUSY,
    WORDS,
)
from scheduler.planning.clock import zone
from scheduler.planning.model import (
    Candidate,
    CandidateType,
    Change,
    ChangeKind,
    Issue,
    Observation,
    PlanningContext,
    Reason,
)
from scheduler.planning.tradeoff import tradeoffs

__all__ = [
    "before_after",
    "candidate_summary",
    "decision_text",
    "explain",
    "fmt_minutes",
    "grounding_tokens",
    "issue_text",
    "option_label",
    "question",
    "reason_text",
    "risk_text",
    "summary",
    "tradeoff_line",
    "tradeoff_text",
]


def _loc(locale: str | None, ctx: PlanningContext | None = None) -> str:
    loc = locale or (ctx.user.locale if ctx else "zh")
    return "en" if loc.lower().startswith("en") else "zh"


def fmt_minutes(minutes: int, locale: str) -> str:
    m = abs(int(minutes))
    h, r = divmod(m, 60)
    if _loc(locale) == "zh":
        if h and r:
            return f"{h}小时{r}分钟"
        return f"{h}小时" if h else f"{r}分钟"
    if h and r:
        return f"{h} h {r} min"
    return f"{h} h" if h else f"{r} min"


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _render(table: Mapping[str, Mapping[str, str]], code: str, params: Mapping[str, object], loc: str) -> str:
    tpl = table.get(code, {}).get(loc)
    if tpl is None:
        return code
    values = _Params()
    for k, v in params.items():
        values[k] = fmt_minutes(int(v), loc) if k.endswith("minutes") and isinstance(v, int) else str(v)
    return tpl.format_map(values)


def reason_text(reason: Reason, locale: str) -> str:
    # notify_only and ask_user candidates give the observation's issues as their reasons and risks
    table = REASONS if reason.code in REASONS else ISSUES
    return _render(table, reason.code, reason.params, _loc(locale))


def risk_text(risk: Reason, locale: str) -> str:
    table = RISKS if risk.code in RISKS else ISSUES
    return _render(table, risk.code, risk.params, _loc(locale))


def tradeoff_text(tradeoff: Reason, locale: str) -> str:
    return _render(TRADEOFFS, tradeoff.code, tradeoff.params, _loc(locale))


def tradeoff_line(
    candidate: Candidate,
    ctx: PlanningContext,
    locale: str | None = None,
    reference: Candidate | None = None,
) -> str:
    """What the option costs against the recommended one, e.g. "ends 2 h later; your day runs 40 min
    longer" ("" for the recommended one). With `reference` (e.g. the option a model chose), against it."""
    loc = _loc(locale, ctx)
    items = (
        candidate.tradeoffs
        if reference is None
        else tradeoffs(candidate, reference, {t.id: t.title for t in ctx.tasks})
    )
    return WORDS["sep"][loc].join(tradeoff_text(t, loc) for t in items)


def issue_text(issue: Issue, locale: str) -> str:
    return _render(ISSUES, issue.code, issue.params, _loc(locale))


def decision_text(decision: str, locale: str) -> str:
    return DECISIONS.get(str(decision), {}).get(_loc(locale), str(decision))


def _local(dt: datetime, ctx: PlanningContext) -> datetime:
    return dt.astimezone(zone(ctx.user.timezone))


def _today(ctx: PlanningContext) -> date:
    return _local(ctx.now, ctx).date()


def _span(start: datetime, end: datetime, ctx: PlanningContext, loc: str) -> str:
    return _span_text(start, end, ctx.user.timezone, _today(ctx), loc)


@lru_cache(maxsize=1024)
def _span_text(start: datetime, end: datetime, tz: str, today: date, loc: str) -> str:
    # memoised: a candidate's summary, before and after texts name the same spans (pure in its arguments)
    s, e = start.astimezone(zone(tz)), end.astimezone(zone(tz))
    text = f"{s:%H:%M}–{e:%H:%M}"
    day = s.date()
    if day == today + timedelta(days=1):
        text = f"{WORDS['tomorrow'][loc]} {text}"
    elif day != today:
        text = f"{day:%m-%d} {text}"
    return text


# A slot that starts this soon after a meeting ends is "after" it (the buffer lies in between).
AFTER_WITHIN = timedelta(minutes=20)


def _after_event(start: datetime, ctx: PlanningContext, loc: str) -> str:
    """ "（周会之后）" when a titled event (a meeting from the calendar, a class from the timetable) ends
    shortly before `start`, so the card names the commitment a person would see next to the slot."""
    best: tuple[datetime, str] | None = None
    for event in ctx.fixed_events:
        if event.start is None or event.end is None or event.title in UNTITLED_BUSY or not event.title:
            continue
        if start - AFTER_WITHIN <= event.end <= start and (best is None or event.end > best[0]):
            best = (event.end, event.title)
    return WORDS["after_event"][loc].format(title=best[1]) if best is not None else ""


def _title(task_id: str | None, ctx: PlanningContext) -> str:
    for t in ctx.tasks:
        if t.id == task_id:
            return t.title
    return task_id or ""


def _adds(c: Candidate) -> list[Change]:
    return [ch for ch in c.changes if ch.kind == ChangeKind.ADD_BLOCK]


def candidate_summary(candidate: Candidate, ctx: PlanningContext, locale: str | None = None) -> str:
    """One line, e.g. "加入 实验报告 14:00–15:30"."""
    loc = _loc(locale, ctx)
    if candidate.type == CandidateType.ASK_USER:
        return question(candidate, ctx, loc)
    if not candidate.is_change:
        first = candidate.reasons[0] if candidate.reasons else None
        return _render(ISSUES, first.code, first.params, loc) if first else decision_text("close", loc)
    adds = _adds(candidate)
    moves = [ch for ch in candidate.changes if ch.kind == ChangeKind.MOVE_BLOCK and ch.start and ch.end]
    if not adds and moves and candidate.type == CandidateType.PLACE_TASK:
        # a block moved whole (off busy time that now overlaps it)
        m = moves[0]
        assert m.start is not None
        assert m.end is not None
        moved = {
            "title": _title(m.task_id, ctx),
            "span": _span(m.start, m.end, ctx, loc) + _after_event(m.start, ctx, loc),
        }
        return SUMMARIES["move_block"][loc].format_map(_Params(moved))
    spans = [_span(a.start, a.end, ctx, loc) for a in adds if a.start and a.end]
    if len(spans) == 1 and adds[0].start is not None:  # one new block: say which meeting it follows
        spans[0] += _after_event(adds[0].start, ctx, loc)
    params: dict[str, object] = {
        "title": _title(adds[0].task_id if adds else None, ctx),
        "span": spans[0] if spans else "",
        "spans": WORDS["list"][loc].join(spans),
        "count": sum(1 for ch in candidate.changes if ch.kind == ChangeKind.MOVE_BLOCK),
    }
    for ch in candidate.changes:
        if ch.kind == ChangeKind.EXTEND_DAY and ch.new_day_end:
            params["new_end"] = f"{ch.new_day_end:%H:%M}"
        if ch.kind == ChangeKind.RESIZE_BLOCK and ch.start and ch.end:
            params["other"] = _title(ch.task_id, ctx)
            params["other_span"] = _span(ch.start, ch.end, ctx, loc)
    return SUMMARIES[candidate.type][loc].format_map(_Params({k: str(v) for k, v in params.items()}))


def before_after(candidate: Candidate, ctx: PlanningContext, locale: str | None = None) -> tuple[str, str]:
    """The affected part of the day before and after, as compact lines (only the candidate's own times)."""
    loc = _loc(locale, ctx)
    before: list[tuple[str, str]] = []
    after: list[tuple[str, str]] = []
    for ch in candidate.changes:
        if ch.kind == ChangeKind.EXTEND_DAY and ch.old_day_end and ch.new_day_end:
            before.append(("~", WORDS["day_ends"][loc].format(time=f"{ch.old_day_end:%H:%M}")))
            after.append(("~", WORDS["day_ends"][loc].format(time=f"{ch.new_day_end:%H:%M}")))
            continue
        if ch.start is None or ch.end is None:
            continue
        title = _title(ch.task_id, ctx)
        key = _local(ch.start, ctx).isoformat()
        if ch.kind == ChangeKind.ADD_BLOCK:
            before.append((key, f"{_span(ch.start, ch.end, ctx, loc)} {WORDS['free'][loc]}"))
        elif ch.old_start and ch.old_end:
            before.append(
                (
                    _local(ch.old_start, ctx).isoformat(),
                    f"{_span(ch.old_start, ch.old_end, ctx, loc)} {title}",
                )
            )
        after.append((key, f"{_span(ch.start, ch.end, ctx, loc)} {title}"))
    sep = WORDS["sep"][loc]
    none = WORDS["none"][loc]
    return (sep.join(t for _, t in sorted(before)) or none, sep.join(t for _, t in sorted(after)) or none)


def option_label(block_id: str, ctx: PlanningContext, locale: str | None = None) -> str:
    """A button label for an ask_user option (a block): its task title and times."""
    loc = _loc(locale, ctx)
    for b in ctx.blocks:
        if b.id == block_id:
            return f"{_title(b.task_id, ctx)} {_span(b.start, b.end, ctx, loc)}"
    return block_id


def question(candidate: Candidate, ctx: PlanningContext, locale: str | None = None) -> str:
    loc = _loc(locale, ctx)
    q = candidate.question
    if q is None:
        return ""
    text = QUESTIONS.get(q.code, {}).get(loc, q.code)
    if candidate.options:
        labels = WORDS["sep"][loc].join(option_label(o, ctx, loc) for o in candidate.options)
        text = f"{text} {labels}"
    return text


def explain(candidate: Candidate, ctx: PlanningContext, locale: str | None = None) -> str:
    """The fallback explanation: what the option does, why, and its risks."""
    loc = _loc(locale, ctx)
    period = WORDS["period"][loc]
    if candidate.type == CandidateType.ASK_USER:
        return question(candidate, ctx, loc)
    if not candidate.is_change:
        texts = [_render(ISSUES, r.code, r.params, loc) for r in candidate.reasons[:2]]
        head = decision_text(candidate.type.value, loc)
        return (
            head + WORDS["because"][loc] + WORDS["sep"][loc].join(texts) + period if texts else head + period
        )
    why = [reason_text(r, loc) for r in candidate.reasons]
    text = (
        candidate_summary(candidate, ctx, loc) + WORDS["because"][loc] + WORDS["sep"][loc].join(why) + period
    )
    if candidate.risks:
        risks = WORDS["sep"][loc].join(risk_text(r, loc) for r in candidate.risks)
        text += " " + WORDS["note"][loc] + risks + period
    return text


def summary(
    ctx: PlanningContext,
    observation: Observation,
    candidate: Candidate | None = None,
    locale: str | None = None,
) -> str:
    """The one-line notification summary for a decision and its chosen candidate."""
    loc = _loc(locale, ctx)
    head = decision_text(observation.decision.value, loc)
    if candidate is not None and candidate.is_change:
        return head + WORDS["because"][loc] + candidate_summary(candidate, ctx, loc)
    if candidate is not None and candidate.type == CandidateType.ASK_USER:
        return (
            head
            + WORDS["because"][loc]
            + QUESTIONS.get(candidate.question.code if candidate.question else "", {}).get(loc, "")
        )
    if observation.issues:
        return head + WORDS["because"][loc] + issue_text(observation.issues[0], loc)
    return head


_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = "一二三四五六日"
_RELATIVE = {0: ("today", "今天"), 1: ("tomorrow", "明天")}


def _day_tokens(day: date, ctx: PlanningContext) -> tuple[str, ...]:
    """The ways a text may name `day`: its date, its weekday, and today/tomorrow relative to `now`."""
    return _day_tokens_from(day, _today(ctx))


@lru_cache(maxsize=256)
def _day_tokens_from(day: date, today: date) -> tuple[str, ...]:
    # memoised: the candidates of a batch name the same few days
    out = [f"{day:%m-%d}", f"{day:%Y-%m-%d}", f"{day.month}月{day.day}日"]
    out += [_WEEKDAYS_EN[day.weekday()], f"周{_WEEKDAYS_ZH[day.weekday()]}"]
    out += _RELATIVE.get((day - today).days, ())
    return tuple(out)


def _tokens(dt: datetime, ctx: PlanningContext) -> list[str]:
    d = _local(dt, ctx)
    return [f"{d:%H:%M}", *_day_tokens(d.date(), ctx)]


def grounding_tokens(candidate: Candidate, ctx: PlanningContext) -> tuple[str, ...]:
    """Every clock time ("HH:MM") and day the candidate contains, local: dates ("MM-DD", "YYYY-MM-DD",
    "M月D日"), weekdays ("Monday", "周一") and, for today and tomorrow, those words ("today", "明天")."""
    out: set[str] = set()
    for ch in candidate.changes:
        for dt in (ch.start, ch.end, ch.old_start, ch.old_end):
            if dt is not None:
                out.update(_tokens(dt, ctx))
        if ch.day is not None:
            out.update(_day_tokens(ch.day, ctx))
        for t in (ch.old_day_end, ch.new_day_end):
            if t is not None:
                out.add(f"{t:%H:%M}")
    for b in ctx.blocks:
        if b.id in candidate.options:
            out.update(_tokens(b.start, ctx) + _tokens(b.end, ctx))
    return tuple(sorted(out))
