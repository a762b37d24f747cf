"""Checks a model's answer against the request: schema, choice, locale, length, links, grounding (pure)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm.api import CandidateView, ChoiceRequest
from llm.grounding import ungrounded
from llm.messages import MAX_EXPLANATION, MAX_QUESTION, MAX_SUMMARY
from llm.reasons import Reason

# Kept here rather than imported from scheduler.planning: llm depends on nothing of ours but prompts.
CHANGE_TYPES = frozenset(
    {"place_task", "split_task", "makeup_block", "push_successors", "extend_day", "rush_merge"}
)
FIELDS = ("selected_candidate_id", "explanation", "notification_summary", "ask_user_question")

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|「[^」]*」|『[^』]*』|《[^》]*》")
# Any scheme, markdown link or bare domain (label.tld, also with an ideographic full stop), after NFKC.
_LINK = re.compile(
    r"[a-z][a-z0-9+.-]*:/|mailto:|tel:|www\.|\]\(|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*[.。][a-z]{2,}(?:\b|/)",
    re.I,
)
_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)
_THINK = re.compile(r"^\s*<think>.*?</think>", re.S)


@dataclass(frozen=True)
class Answer:
    selected_candidate_id: str
    explanation: str
    notification_summary: str
    ask_user_question: str


@dataclass(frozen=True)
class Problem:
    code: Reason
    message: str  # English, for the re-ask and the logs


class AnswerError(Exception):
    """The answer is not a usable JSON object."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def compatible(request: ChoiceRequest) -> tuple[CandidateView, ...]:
    """The candidates the decision allows the model to choose."""
    if request.decision == "propose":
        return tuple(c for c in request.candidates if c.type in CHANGE_TYPES)
    return tuple(c for c in request.candidates if c.type == request.decision)


def parse_answer(content: str | None) -> Answer:
    """The four fields of the model's JSON; tolerant only of a code fence or a leading reasoning block."""
    text = _THINK.sub("", content or "").strip()
    fenced = _CODE_FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnswerError(Problem(Reason.INVALID_JSON, f"not valid JSON ({exc.msg})")) from exc
    if not isinstance(data, dict):
        raise AnswerError(Problem(Reason.INVALID_JSON, "the answer must be one JSON object"))
    values: dict[str, str] = {}
    for field in FIELDS:
        value = data.get(field, "" if field == "ask_user_question" else None)
        if value is None and field == "ask_user_question":
            value = ""
        if not isinstance(value, str):
            raise AnswerError(Problem(Reason.INVALID_JSON, f"field {field} must be a string"))
        values[field] = value.strip()
    return Answer(**values)


def _strip_data(text: str, request: ChoiceRequest, chosen: CandidateView | None) -> str:
    """Remove quoted text and any CJK run that comes from the request's own data (titles may be Chinese)."""
    text = _QUOTED.sub(" ", text)
    sources = [request.target_title, request.user_text]
    for c in (chosen,) if chosen else request.candidates:
        sources += [c.summary, c.before, c.after]
    data_runs = {run for s in sources for run in _CJK_RUN.findall(s)}
    for run in sorted(data_runs, key=len, reverse=True):
        text = text.replace(run, " ")
    return text


_LATIN = re.compile(r"[A-Za-z]")


def _locale_ok(text: str, request: ChoiceRequest, chosen: CandidateView | None) -> bool:
    if not text:
        return True
    if request.locale == "en":
        return not _CJK.search(_strip_data(text, request, chosen))
    # zh: mostly Chinese once quotes and our own data (titles may be English) are taken out
    rest = _QUOTED.sub(" ", text)
    for source in (request.target_title, request.user_text, *(c.summary for c in request.candidates)):
        if source:
            rest = rest.replace(source, " ")
    cjk, latin = len(_CJK.findall(rest)), len(_LATIN.findall(rest))
    return bool(_CJK.search(_QUOTED.sub(" ", text))) and cjk >= latin


def check_answer(answer: Answer, request: ChoiceRequest) -> list[Problem]:
    """Every problem with the answer, most serious first; empty when the answer can be shown."""
    problems: list[Problem] = []
    ids = {c.id: c for c in request.candidates}
    allowed = {c.id for c in compatible(request)}
    chosen = ids.get(answer.selected_candidate_id)
    if chosen is None:
        problems.append(
            Problem(Reason.INVALID_CHOICE, "selected_candidate_id is not one of the candidate ids")
        )
    elif chosen.id not in allowed:
        problems.append(
            Problem(
                Reason.INVALID_CHOICE, f"a {chosen.type} candidate does not fit decision {request.decision}"
            )
        )
    texts = {
        "explanation": (answer.explanation, MAX_EXPLANATION),
        "notification_summary": (answer.notification_summary, MAX_SUMMARY),
        "ask_user_question": (answer.ask_user_question, MAX_QUESTION),
    }
    required = ["explanation", "notification_summary"]
    if request.decision == "ask_user":
        required.append("ask_user_question")
    for field in required:
        if not texts[field][0]:
            problems.append(Problem(Reason.EMPTY_TEXT, f"{field} must not be empty"))
    for field, (text, limit) in texts.items():
        if len(text) > limit:
            problems.append(Problem(Reason.TOO_LONG, f"{field} has {len(text)} characters, limit {limit}"))
        if _LINK.search(unicodedata.normalize("NFKC", text)):
            problems.append(Problem(Reason.CONTAINS_LINK, f"{field} must not contain links"))
        if not _locale_ok(text, request, chosen):
            lang = "English" if request.locale == "en" else "Simplified Chinese"
            problems.append(Problem(Reason.WRONG_LOCALE, f"{field} must be written in {lang}"))
    if chosen is not None:
        # The candidate's own texts count as grounding too: they are ours, e.g. "(1/2)" of a split.
        grounding = (*chosen.grounding, chosen.summary, chosen.before, chosen.after)
        for field, (text, _) in texts.items():
            extra = ungrounded(text, grounding)
            if extra:
                problems.append(
                    Problem(
                        Reason.UNGROUNDED,
                        f"{field} mentions {', '.join(extra)}, which the chosen candidate does not contain",
                    )
                )
    return problems


def problem_messages(problems: Sequence[Problem]) -> list[str]:
    return [p.message for p in problems]
