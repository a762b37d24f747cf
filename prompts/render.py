"""Strict rendering of the versioned prompt files shipped in this package."""

from __future__ import annotations

import re
import string
from enum import StrEnum
from functools import cache
from importlib import resources

# Data (task titles, the user's words, candidate texts) goes between these markers in the prompts;
# nothing inside them may ever contain a marker, so `fence_data` strips anything that could form one.
FENCE_OPEN = "<<<"
FENCE_CLOSE = ">>>"
_FENCE_LIKE = re.compile(r"[<>]{2,}|`{3,}|[\u00ab\u00bb\u2039\u203a\u300a\u300b]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_NAME = re.compile(r"^[a-z_]+\.v[0-9]+(\.[a-z_]+)*$")


class PromptErrorCode(StrEnum):
    UNKNOWN_PROMPT = "unknown_prompt"
    MISSING_VARIABLE = "missing_variable"
    UNKNOWN_VARIABLE = "unknown_variable"
    BAD_TEMPLATE = "bad_template"


class PromptError(Exception):
    """A prompt could not be rendered; `code` says why."""

    def __init__(self, code: PromptErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@cache
def load(name: str) -> string.Template:
    """The template `prompts/<name>.md`, e.g. `choose_candidate.v1.system.zh`."""
    if not _NAME.match(name):
        raise PromptError(PromptErrorCode.UNKNOWN_PROMPT, f"not a prompt name: {name!r}")
    resource = resources.files(__package__ or "prompts").joinpath(f"{name}.md")
    try:
        text = resource.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise PromptError(PromptErrorCode.UNKNOWN_PROMPT, f"no prompt file {name}.md") from exc
    template = string.Template(text)
    if not template.is_valid():
        raise PromptError(PromptErrorCode.BAD_TEMPLATE, f"{name}.md has a malformed $ placeholder")
    return template


def variables(name: str) -> frozenset[str]:
    return frozenset(load(name).get_identifiers())


def render(name: str, **values: str) -> str:
    """Fill every `${var}` of a prompt; a missing or an unexpected variable is an error, never a blank."""
    template = load(name)
    expected = variables(name)
    missing = expected - values.keys()
    if missing:
        raise PromptError(PromptErrorCode.MISSING_VARIABLE, f"{name}: missing {sorted(missing)}")
    unknown = values.keys() - expected
    if unknown:
        raise PromptError(PromptErrorCode.UNKNOWN_VARIABLE, f"{name}: unknown {sorted(unknown)}")
    return template.substitute(values).strip() + "\n"


def fence_data(text: str, limit: int = 200) -> str:
    """Make user data safe to place between the fence markers: one line, no marker-like runs, bounded."""
    text = _CONTROL.sub(" ", text)
    text = _FENCE_LIKE.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
