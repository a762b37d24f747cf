"""Chat message text to a frozen Command: slash commands, admin commands, free-text feedback."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from bot.parse.durations import parse_duration_token
from bot.parse.feedback import check_minutes, parse_feedback, split_ref_and_minutes
from bot.parse.model import (
    MAX_TITLE_CHARS,
    Add,
    Admin,
    AdminSub,
    Command,
    Connect,
    Disconnect,
    Done,
    Drop,
    Edit,
    Help,
    Lock,
    ParseError,
    ParseErrorCode,
    Reopen,
    Tasks,
    Today,
    Unfinished,
    Unknown,
)
from bot.parse.prefs import parse_prefs
from bot.parse.timetext import check_time_text

_MENTION = re.compile(r"@_user_\d+|@_all")
_LEADING_MENTIONS = re.compile(r"^(?:\s*(?:@_user_\d+|@_all))+")
_HELP_WORDS = frozenset({"help", "帮助", "?", "菜单", "menu"})
_BY_WORDS = frozenset({"by", "before", "截止", "due"})
_ADMIN_ALIASES = {"dry-run": "dryrun", "dry_run": "dryrun", "notification": "notifications", "job": "jobs"}
_ADMIN_USAGE = {
    AdminSub.TRIGGER: "/admin trigger <user> <task> [--now <time>]",
    AdminSub.DRYRUN: "/admin dryrun <user> <task> [--now <time>]",
    AdminSub.JOBS: "/admin jobs",
    AdminSub.NOTIFICATIONS: "/admin notifications [--dead]",
    AdminSub.RETRY: "/admin retry <notification id>",
    AdminSub.STATS: "/admin stats",
}
ADD_USAGE = "/add <title> <minutes> [by <time>] [!] [+]"
# "写周报 #2": the second of the tasks the bot listed for "写周报"
_PICK = re.compile(r"(?P<ref>.*?)\s*#\s*(?P<n>\d{1,3})")
# A number that is clearly meant as the minutes even though it cannot be valid ("-30", "1000000").
_SIGNED_NUMBER = re.compile(r"[-+]?\d+")


def normalize_text(text: str, *, mentions_stripped: bool = True) -> str:
    """NFKC (full-width forms to ASCII), curly apostrophes, mention placeholders, whitespace."""
    s = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    s = _MENTION.sub(" ", s) if mentions_stripped else _LEADING_MENTIONS.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip()


def parse_message(text: str, *, mentions_stripped: bool = True) -> Command:
    """Parse one chat message. Raises ParseError (with a message naming the problem) on bad input.

    `mentions_stripped=True` removes every `@_user_N` placeholder; False removes only the leading
    ones (the bot being addressed) so `/admin trigger @_user_2 ...` keeps the placeholder for the
    handler to resolve through the event's `mentions`.
    """
    s = normalize_text(text, mentions_stripped=mentions_stripped)
    if not s:
        return Unknown("")
    if s.startswith("/"):
        name, _, rest = s[1:].partition(" ")
        parser = _SLASH.get(name.casefold())
        return parser(rest.strip()) if parser else Unknown(s)
    if s.casefold() in _HELP_WORDS:
        return Help()
    return parse_feedback(s) or Unknown(s)


def _no_args(command: Command) -> Callable[[str], Command]:
    return lambda _rest: command


def _minutes_token(token: str) -> int | None:
    """The minutes `token` states, in range or not: "45", "1.5h", "-30", "1000000"; None if not minutes."""
    minutes = parse_duration_token(token)
    if minutes is not None:
        return minutes
    if token[:1] in "-−" and len(token) > 1:
        positive = parse_duration_token(token[1:])
        if positive is not None:
            return -positive
    if _SIGNED_NUMBER.fullmatch(token):
        digits = token.lstrip("+-")
        value = int(digits) if len(digits) <= 12 else 10**12  # int() of thousands of digits raises
        return -value if token.startswith("-") else value
    return None


def _parse_add(rest: str) -> Add:
    # trailing flags, in either order: "!" important, "+" another task even if the title is taken
    flags = re.search(r"[\s!+]*$", rest)
    tail = flags.group(0) if flags else ""
    important, again = "!" in tail, "+" in tail
    rest = rest[: len(rest) - len(tail)].strip() if tail else rest.strip()
    tokens = rest.split()
    deadline: str | None = None
    minutes: int | None = None
    title_tokens: list[str] = []
    if len(tokens) >= 2 and tokens[-1].casefold() in _BY_WORDS and _minutes_token(tokens[-2]) is not None:
        raise ParseError(
            ParseErrorCode.MISSING_DEADLINE,
            f"the time after {tokens[-1]!r} is missing: {ADD_USAGE}",
            command="add",
            params={"word": tokens[-1], "usage": ADD_USAGE},
        )
    for i in range(len(tokens) - 2, 0, -1):  # the last "by" that follows a duration
        if tokens[i].casefold() in _BY_WORDS and _minutes_token(tokens[i - 1]) is not None:
            minutes = _minutes_token(tokens[i - 1])
            title_tokens, deadline = tokens[: i - 1], " ".join(tokens[i + 1 :])
            break
    if minutes is None and tokens:
        minutes = _minutes_token(tokens[-1])
        title_tokens = tokens[:-1]
    if minutes is None:
        raise ParseError(
            ParseErrorCode.MISSING_MINUTES,
            f"give the minutes after the title: {ADD_USAGE}",
            command="add",
            params={"usage": ADD_USAGE},
        )
    title = " ".join(title_tokens)
    if not title:
        raise ParseError(ParseErrorCode.EMPTY_TITLE, f"the title is missing: {ADD_USAGE}", command="add")
    if len(title) > MAX_TITLE_CHARS:
        raise ParseError(
            ParseErrorCode.TITLE_TOO_LONG,
            f"the title is longer than {MAX_TITLE_CHARS} characters",
            command="add",
            params={"max": MAX_TITLE_CHARS},
        )
    check_minutes(minutes, "add")
    if deadline is not None:
        _check_time(deadline, "add")
    return Add(title=title, minutes=minutes, deadline_text=deadline, important=important, again=again)


def _check_time(text: str, command: str) -> None:
    try:
        check_time_text(text)
    except ParseError as exc:
        exc.command = command
        raise


def split_pick(rest: str) -> tuple[str, int | None, str | None]:
    """`<task> [#n]` -> (reference, n, the whole text when it had a #n)."""
    m = _PICK.fullmatch(rest)
    ref, pick, whole = (m.group("ref"), int(m.group("n")), rest) if m else (rest, None, None)
    return ref.strip(), pick, whole


def _task_ref(rest: str, command: str) -> tuple[str, int | None, str | None]:
    ref, pick, whole = split_pick(rest)
    if not ref:
        raise ParseError(ParseErrorCode.MISSING_TASK, f"say which task: /{command} <task>", command=command)
    return ref, pick, whole


def _parse_done(rest: str) -> Done:
    return Done(*_task_ref(rest, "done"))


EDIT_USAGE = "/edit <task> [minutes] [by <time>|by none] [!|-]"
_NO_DEADLINE = frozenset({"none", "no", "off", "无", "不限", "没有"})


def _parse_edit(rest: str) -> Edit:
    tokens = rest.split()
    important: bool | None = None
    if tokens and tokens[-1] in ("!", "-"):
        important = tokens.pop() == "!"
    elif tokens and tokens[-1].endswith("!") and len(tokens[-1]) > 1:
        tokens[-1], important = tokens[-1][:-1], True
    deadline: str | None = None
    clear = False
    by = next((i for i in range(len(tokens) - 1, 0, -1) if tokens[i].casefold() in _BY_WORDS), None)
    if by is not None:
        after = " ".join(tokens[by + 1 :])
        if not after:
            raise ParseError(
                ParseErrorCode.MISSING_DEADLINE,
                f"the time after {tokens[by]!r} is missing: {EDIT_USAGE}",
                command="edit",
                params={"word": tokens[by], "usage": EDIT_USAGE},
            )
        if after.casefold() in _NO_DEADLINE:
            clear = True
        else:
            _check_time(after, "edit")
            deadline = after
        tokens = tokens[:by]
    minutes = _minutes_token(tokens[-1]) if len(tokens) >= 2 else None
    if minutes is not None:
        check_minutes(minutes, "edit")
        tokens = tokens[:-1]
    ref = " ".join(tokens)
    if not ref:
        raise ParseError(ParseErrorCode.MISSING_TASK, f"say which task: {EDIT_USAGE}", command="edit")
    if minutes is None and deadline is None and not clear and important is None:
        raise ParseError(
            ParseErrorCode.NOTHING_TO_EDIT,
            f"say what to change: {EDIT_USAGE}",
            command="edit",
            params={"usage": EDIT_USAGE},
        )
    return Edit(ref, minutes, deadline, clear, important)


def _parse_drop(rest: str) -> Drop:
    return Drop(*_task_ref(rest, "drop"))


def _parse_reopen(rest: str) -> Reopen:
    return Reopen(*_task_ref(rest, "undone"))


def _parse_lock(rest: str) -> Lock:
    return Lock(*_task_ref(rest, "lock"))


def _parse_unlock(rest: str) -> Lock:
    return Lock(*_task_ref(rest, "unlock"), unlock=True)


def _parse_unfinished(rest: str) -> Unfinished:
    tokens = rest.split()
    if tokens and tokens[-1].isdecimal():
        said = check_minutes(int(tokens[-1]), "unfinished")
        return Unfinished(task_ref=" ".join(tokens[:-1]) or None, minutes=said, text=rest)
    ref, minutes = split_ref_and_minutes(rest, "unfinished")
    return Unfinished(task_ref=ref, minutes=minutes, text=rest)


def _admin_error(code: ParseErrorCode, message: str, sub: AdminSub | None = None) -> ParseError:
    usage = _ADMIN_USAGE[sub] if sub else " | ".join(_ADMIN_USAGE.values())
    return ParseError(code, f"{message}: {usage}", command="admin", params={"usage": usage})


# An argument: a quoted run ("Bob Smith", “Bob Smith”, 「Bob Smith」: names with spaces) or a word.
_ARG = re.compile(r'"([^"]*)"|“([^”]*)”|「([^」]*)」|(\S+)')


def _arguments(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _ARG.finditer(text)]


def _parse_admin(rest: str) -> Admin:
    raw = [re.sub(r"^[—–]", "--", t) for t in _arguments(rest)]  # phones turn "--" into a dash
    if not raw:
        raise _admin_error(ParseErrorCode.MISSING_ADMIN_COMMAND, "say which admin command")
    name = raw[0].casefold()
    try:
        sub = AdminSub(_ADMIN_ALIASES.get(name, name))
    except ValueError:
        raise _admin_error(
            ParseErrorCode.UNKNOWN_ADMIN_COMMAND, f"unknown admin command {raw[0]!r}"
        ) from None
    positional: list[str] = []
    now_text: str | None = None
    dead = False
    tokens = raw[1:]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        flag, eq, value = token.partition("=")
        if flag.casefold() == "--now" and sub in (AdminSub.TRIGGER, AdminSub.DRYRUN):
            j = i + 1
            while j < len(tokens) and not tokens[j].startswith("--"):
                j += 1
            now_text = " ".join(([value] if eq else []) + tokens[i + 1 : j])
            if not now_text:
                raise _admin_error(ParseErrorCode.MISSING_ARGUMENT, "--now needs a time", sub)
            _check_time(now_text, "admin")
            i = j
            continue
        if token.casefold() == "--dead" and sub is AdminSub.NOTIFICATIONS:
            dead = True
        elif token.startswith("--"):
            raise _admin_error(ParseErrorCode.UNEXPECTED_ARGUMENT, f"unexpected option {token!r}", sub)
        else:
            positional.append(token)
        i += 1
    if sub in (AdminSub.TRIGGER, AdminSub.DRYRUN):
        if len(positional) < 2:
            raise _admin_error(ParseErrorCode.MISSING_ARGUMENT, "give a user and a task", sub)
        return Admin(
            sub, user=positional[0], task=" ".join(positional[1:]), now_text=now_text, args=tuple(raw)
        )
    if sub is AdminSub.RETRY:
        if len(positional) != 1:
            code = ParseErrorCode.MISSING_ARGUMENT if not positional else ParseErrorCode.UNEXPECTED_ARGUMENT
            raise _admin_error(code, "give exactly one notification id", sub)
        return Admin(sub, notification_id=positional[0], args=tuple(raw))
    if positional:
        raise _admin_error(ParseErrorCode.UNEXPECTED_ARGUMENT, f"unexpected argument {positional[0]!r}", sub)
    return Admin(sub, dead=dead, args=tuple(raw))


_SLASH: dict[str, Callable[[str], Command]] = {
    "help": _no_args(Help()),
    "start": _no_args(Help()),
    "today": _no_args(Today()),
    "tasks": _no_args(Tasks()),
    "connect": _no_args(Connect()),
    "disconnect": _no_args(Disconnect()),
    "add": _parse_add,
    "done": _parse_done,
    "undone": _parse_reopen,
    "drop": _parse_drop,
    "edit": _parse_edit,
    "reopen": _parse_reopen,
    "unfinished": _parse_unfinished,
    "lock": _parse_lock,
    "unlock": _parse_unlock,
    "prefs": parse_prefs,
    "admin": _parse_admin,
}
