"""Read an import file (YAML or JSON) into the schema, keeping YAML line numbers for error messages."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.importer.errors import ImportErrorCode, ImportRejectedError, Problem
from app.importer.schema import ImportFile

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader without YAML 1.1 base-60 numbers: an unquoted 10:15 stays the string "10:15"."""


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

Loc = tuple[str | int, ...]


class LineMap:
    """Line of each record and field of a YAML document, looked up by the longest known prefix."""

    def __init__(self) -> None:
        self._lines: dict[Loc, int] = {}
        self.duplicates: list[Problem] = []
        self.aliases: list[Problem] = []

    def add(self, loc: Loc, line: int) -> None:
        self._lines[loc] = line

    def line(self, loc: Sequence[str | int]) -> int | None:
        key = tuple(loc)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None

    def walk(self, node: yaml.Node, loc: Loc = (), seen: set[int] | None = None) -> None:
        seen = set() if seen is None else seen
        self.add(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            # An alias (*name) makes the same node appear twice: refused, since a self-reference never
            # ends and nested aliases grow exponentially ("billion laughs"); an import needs none.
            if id(node) in seen:
                self.aliases.append(
                    Problem(format_loc(loc), "YAML aliases (*name) are not allowed", node.start_mark.line + 1)
                )
                return
            seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set[str] = set()
            for key_node, value_node in node.value:
                name = str(key_node.value)
                if name in names:
                    self.duplicates.append(
                        Problem(format_loc((*loc, name)), "key given twice", key_node.start_mark.line + 1)
                    )
                names.add(name)
                self.walk(value_node, (*loc, name), seen)
                self.add((*loc, name), key_node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*loc, i), seen)


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "file"


def _load_yaml(text: str) -> tuple[object, LineMap]:
    lines = LineMap()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, lines
        lines.walk(node)
        if lines.aliases:
            raise ImportRejectedError(ImportErrorCode.UNREADABLE, lines.aliases[:1])
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = f"malformed YAML: {exc.problem or exc.context}"
        raise ImportRejectedError(ImportErrorCode.UNREADABLE, [Problem("file", msg, line)]) from exc
    except yaml.YAMLError as exc:
        raise ImportRejectedError(
            ImportErrorCode.UNREADABLE, [Problem("file", f"malformed YAML: {exc}")]
        ) from exc
    finally:
        loader.dispose()


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _load_json(text: str) -> tuple[object, LineMap]:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys), LineMap()
    except _DuplicateKeyError as exc:
        # JSON readers differ on repeated keys (ours kept the last one): refuse, as for YAML
        problem = Problem("file", f"key {exc.key!r} given twice in one object")
        raise ImportRejectedError(ImportErrorCode.UNREADABLE, [problem]) from exc
    except json.JSONDecodeError as exc:
        problem = Problem("file", f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno)
        raise ImportRejectedError(ImportErrorCode.UNREADABLE, [problem]) from exc


def parse_text(text: str, *, is_json: bool) -> tuple[ImportFile, LineMap]:
    """Parse and shape-check one document; raises ImportRejectedError with every problem found."""
    data, lines = _load_json(text) if is_json else _load_yaml(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem = Problem("file", "must be a mapping with users, fixed_events, tasks and blocks", 1)
        raise ImportRejectedError(ImportErrorCode.INVALID, [problem])
    try:
        doc = ImportFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(format_loc(err["loc"]), _message(err["msg"], err["input"]), lines.line(err["loc"]))
            for err in exc.errors(include_url=False)
        ]
        raise ImportRejectedError(
            ImportErrorCode.INVALID, list(dict.fromkeys([*lines.duplicates, *problems]))
        ) from exc
    if lines.duplicates:
        raise ImportRejectedError(ImportErrorCode.INVALID, lines.duplicates)
    return doc, lines


def _message(msg: str, value: object) -> str:
    msg = msg.removeprefix("Value error, ")
    if msg == "Extra inputs are not permitted":
        return "unknown field"
    if msg == "Field required":
        return "required field is missing"
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
        return f"{msg} (got {value!r})"
    return msg


def read_file(path: Path) -> tuple[ImportFile, LineMap]:
    """Read FILE; `.json` is JSON, anything else YAML (JSON is accepted there too)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRejectedError(
            ImportErrorCode.UNREADABLE, [Problem("file", f"cannot read {path}: {exc}")]
        ) from exc
    return parse_text(text, is_json=path.suffix.lower() == ".json")
