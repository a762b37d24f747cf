"""Typed button (and picker) values: `{"v":1,"k":"apply","p":"<preview id>","c":"<candidate id>"}`, packed
and checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

VERSION = 1
MAX_ID_CHARS = 64
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
_KEYS = frozenset({"v", "k", "p", "c"})


class Kind(StrEnum):
    APPLY = "apply"  # c = candidate id
    IGNORE = "ignore"
    UNDO = "undo"
    CHOOSE = "choose"  # c = the ask_user choice id
    DEADLINE = "deadline"  # the date-time picker: the picked time arrives as the action's option
    SNOOZE = "snooze"  # c = when to ask again (3h, tomorrow)
    DROP = "drop"
    PICK = "pick"  # "another time": the date-time picker's start arrives as the action's option
    CAPTURE = "capture"  # p = the capture form's id (its source message): Submit sends action.form_value
    PREFS = "prefs"  # p = the setting (tz, day) a welcome card's select changes; the option is the value
    TASK_EDIT = "task_edit"  # p = a task id: open its Edit form
    TASK_SAVE = "task_save"  # p = a task id: the Edit form's Save sends action.form_value

    @property
    def needs_choice(self) -> bool:
        return self in (Kind.APPLY, Kind.CHOOSE, Kind.SNOOZE)


_KINDS = frozenset(k.value for k in Kind)


class PayloadErrorCode(StrEnum):
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_KEY = "unknown_key"
    MISSING_KEY = "missing_key"
    BAD_VERSION = "bad_version"
    UNKNOWN_KIND = "unknown_kind"
    BAD_ID = "bad_id"
    UNEXPECTED_CHOICE = "unexpected_choice"


class PayloadError(Exception):
    """A button value that is not one we built; the callback answers with no effect."""

    def __init__(self, code: PayloadErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ButtonPayload:
    v: int
    k: Kind
    p: str  # preview id
    c: str | None = None  # candidate id (apply) or choice id (choose)

    def pack(self) -> dict[str, object]:
        """The JSON object to put in a button's callback value."""
        value: dict[str, object] = {"v": self.v, "k": str(self.k), "p": self.p}
        if self.c is not None:
            value["c"] = self.c
        return value


def _show(value: object) -> str:
    """A short, safe description of untrusted input for an error message (never huge, never raises)."""
    if isinstance(value, str):
        return repr(value[:40])
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**12):
        return repr(value)
    return f"a {type(value).__name__}"


def _check_id(name: str, value: object) -> str:
    # type and length first: the value may be anything a client sent, of any size
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS or not _ID.fullmatch(value):
        raise PayloadError(PayloadErrorCode.BAD_ID, f"{name} must be a short id string, got {_show(value)}")
    return value


def pack(kind: Kind | str, preview_id: str, choice: str | None = None) -> dict[str, object]:
    """Build and validate a button value (raises PayloadError on a bad id or a missing choice)."""
    return unpack(ButtonPayload(VERSION, Kind(kind), preview_id, choice).pack()).pack()


def unpack(obj: object) -> ButtonPayload:
    """Validate an inbound `event.action.value`. Raises only PayloadError, whatever `obj` is."""
    if not isinstance(obj, Mapping):
        raise PayloadError(
            PayloadErrorCode.NOT_AN_OBJECT, f"button value must be an object, got {type(obj).__name__}"
        )
    if len(obj) > len(_KEYS):
        raise PayloadError(PayloadErrorCode.UNKNOWN_KEY, f"button value has {len(obj)} keys")
    try:
        keys = set(obj.keys())
    except TypeError:  # unhashable or odd mapping keys
        raise PayloadError(PayloadErrorCode.UNKNOWN_KEY, "button value keys are not strings") from None
    extra = [k for k in keys if k not in _KEYS]
    if extra:
        raise PayloadError(PayloadErrorCode.UNKNOWN_KEY, f"unknown key {_show(extra[0])}")
    missing = sorted({"v", "k", "p"} - keys)
    if missing:
        raise PayloadError(PayloadErrorCode.MISSING_KEY, f"missing key {missing[0]!r}")
    version = obj["v"]
    if type(version) is not int or version != VERSION:  # bool is an int subclass: excluded
        raise PayloadError(PayloadErrorCode.BAD_VERSION, f"unsupported version {_show(version)}")
    raw_kind = obj["k"]
    if not isinstance(raw_kind, str) or raw_kind not in _KINDS:
        raise PayloadError(PayloadErrorCode.UNKNOWN_KIND, f"unknown kind {_show(raw_kind)}")
    kind = Kind(raw_kind)
    preview_id = _check_id("p", obj["p"])
    choice = obj.get("c")
    if kind.needs_choice:
        if "c" not in keys:
            raise PayloadError(PayloadErrorCode.MISSING_KEY, f"{kind} needs 'c'")
        choice = _check_id("c", choice)
    elif choice is not None:
        raise PayloadError(PayloadErrorCode.UNEXPECTED_CHOICE, f"{kind} takes no 'c'")
    return ButtonPayload(VERSION, kind, preview_id, choice)
