"""Which task a reference names (`/done <task>`, `/admin ... <task>`, "X没做完"): id, key, exact title, or a
meaningful part of a title. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

# A fragment of a Chinese title must carry at least this many CJK characters: one character ("文") is in
# too many titles to name one of them.
MIN_CJK_FRAGMENT = 2
# A Latin fragment must be whole words with at least this many letters or digits ("a" is not a task).
MIN_LATIN_FRAGMENT = 2

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)


class Nameable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def title(self) -> str: ...


T = TypeVar("T", bound=Nameable)


class MatchKind(StrEnum):
    ID = "id"
    KEY = "key"
    TITLE = "title"
    FRAGMENT = "fragment"
    NONE = "none"
    TOO_SHORT = "too_short"  # a fragment too small to name a task (the reply says so)


@dataclass(frozen=True)
class TaskMatch(Generic[T]):
    kind: MatchKind
    tasks: tuple[T, ...]


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _squash(text: str) -> str:
    return _fold(text).replace(" ", "")


def meaningful(ref: str) -> bool:
    """Whether `ref` is big enough to stand for part of a title."""
    folded = _fold(ref)
    return (
        len(_CJK.findall(folded)) >= MIN_CJK_FRAGMENT
        or len(_ALNUM.findall(_CJK.sub("", folded))) >= MIN_LATIN_FRAGMENT
    )


def _contains(title: str, ref: str) -> bool:
    """`ref` is in `title`: anywhere for text with Chinese characters, as whole words for Latin text."""
    if _CJK.search(ref):
        return len(_CJK.findall(ref)) >= MIN_CJK_FRAGMENT and _squash(ref) in _squash(title)
    if len(_ALNUM.findall(ref)) < MIN_LATIN_FRAGMENT:
        return False
    words = r"\s*".join(re.escape(w) for w in ref.split(" "))
    # only ASCII letters and digits glue words together: "组会PPT" contains the word "ppt"
    pattern = rf"(?<![0-9a-z]){words}(?![0-9a-z])"
    return re.search(pattern, _fold(title)) is not None


def match_task_ref(tasks: Sequence[T], ref: str) -> TaskMatch[T]:
    """The tasks `ref` names, best kind first: id, exact title (case and spacing ignored), key, then a
    meaningful fragment of the title. Several results mean the user must pick (see `pick`)."""
    want = _fold(ref)
    if not want:
        return TaskMatch(MatchKind.NONE, ())
    for kind, found in (
        (MatchKind.ID, [x for x in tasks if x.id == ref.strip()]),
        # the title the user sees beats a key they may never have seen ("slides" the task, not the key)
        (MatchKind.TITLE, [x for x in tasks if _squash(x.title) == _squash(want)]),
        (MatchKind.KEY, [x for x in tasks if x.key is not None and _squash(x.key) == _squash(want)]),
    ):
        if found:
            return TaskMatch(kind, tuple(found))
    fragments = tuple(x for x in tasks if _contains(x.title, want))
    if fragments:
        return TaskMatch(MatchKind.FRAGMENT, fragments)
    if not meaningful(want) and any(_squash(want) in _squash(x.title) for x in tasks):
        return TaskMatch(MatchKind.TOO_SHORT, ())
    return TaskMatch(MatchKind.NONE, ())
