"""Read an import file (YAML or JSON) into the schema, keeping line numbers for error messages."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.importer.addresses import Directory, resolve_addresses
from app.importer.errors import ImportErrorCode, ImportRejectedError, Problem
from app.importer.schema import BlockIn, FixedEventIn, ImportFile, Record, TaskIn, UserIn

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader without YAML 1.1 base-60 numbers (an unquoted 10:15 stays the string "10:15") and without
    implicit timestamps: an unquoted date stays a string that the schema reads, so an impossible one
    (2026-13-45) is reported with its record and field instead of failing inside the YAML loader."""


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT, _TIMESTAMP)]
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

# An import file needs five levels (file, section, record, weekly, value); far deeper input is refused before
# anything recursive (the YAML walk, the JSON decoder, pydantic) can run out of stack.
MAX_DEPTH = 32
_TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels; an import file needs 5)"


class LineMap:
    """Line of each record and field of a document, looked up by the longest known prefix; also what the
    shape check found, so that build_plan reports it together with the cross-record problems."""

    def __init__(self) -> None:
        self._lines: dict[Loc, int] = {}
        self.duplicates: list[Problem] = []
        self.aliases: list[Problem] = []
        # Records that failed the shape check are left out of the document; build_plan must still refuse it.
        self.problems: list[Problem] = []
        # What the left-out records were about, so that records referring to them are not also reported as
        # referring to an unknown user or task.
        self.left_out_users: set[str] = set()
        self.left_out_tasks: set[tuple[str, str]] = set()

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
        if len(loc) > MAX_DEPTH:
            problem = Problem("file", _TOO_DEEP, node.start_mark.line + 1)
            raise ImportRejectedError(ImportErrorCode.UNREADABLE, [problem])
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


def _rejected(message: str, line: int | None = None) -> ImportRejectedError:
    return ImportRejectedError(ImportErrorCode.UNREADABLE, [Problem("file", message, line)])


def _load_yaml(text: str) -> tuple[object, LineMap]:
    lines = LineMap()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        lines.walk(node)
        if lines.aliases:
            raise ImportRejectedError(ImportErrorCode.UNREADABLE, lines.aliases[:1])
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise _rejected(f"malformed YAML: {exc.problem or exc.context}", line) from exc
    except yaml.YAMLError as exc:
        raise _rejected(f"malformed YAML: {exc}") from exc
    except RecursionError as exc:  # the pure-Python loader, when libyaml is missing
        raise _rejected(_TOO_DEEP) from exc
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


def _depth_exceeds(data: object, limit: int) -> bool:
    """Whether `data` nests lists and mappings more than `limit` deep (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _json_lines(text: str) -> LineMap:
    """Line numbers for a JSON document: JSON is (nearly) YAML flow syntax, so the YAML composer gives
    every node's position; a document it cannot read just gets no line numbers."""
    lines = LineMap()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            lines.walk(node)
    except (yaml.YAMLError, ImportRejectedError):
        return LineMap()
    finally:
        loader.dispose()
    return lines


def _load_json(text: str) -> tuple[object, LineMap]:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as exc:
        # JSON readers differ on repeated keys (ours kept the last one): refuse, as for YAML
        raise _rejected(f"key {exc.key!r} given twice in one object") from exc
    except json.JSONDecodeError as exc:
        raise _rejected(f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    except RecursionError as exc:
        raise _rejected(_TOO_DEEP) from exc
    if _depth_exceeds(data, MAX_DEPTH):
        raise _rejected(_TOO_DEEP)
    return data, _json_lines(text)


_RECORDS: dict[str, type[Record]] = {
    "users": UserIn,
    "fixed_events": FixedEventIn,
    "tasks": TaskIn,
    "blocks": BlockIn,
}
EMPTY_FILE = "the file is empty: nothing to import"
NO_RECORDS = "nothing to import: no users, fixed_events, tasks or blocks"


def parse_text(text: str, *, is_json: bool, directory: Directory | None = None) -> tuple[ImportFile, LineMap]:
    """Parse and shape-check one document.

    A file that cannot be read as a document (malformed, nested too deeply, empty) raises
    ImportRejectedError. Records with a wrong shape are left out of the returned document and their
    problems kept in `LineMap.problems`: build_plan reports them together with the cross-record problems
    and refuses the file.

    Empty sections (`users:` with nothing, or `[]`) are the same as absent ones; a file without a single
    record (zero bytes, only whitespace or comments, `{}`, only empty sections) is refused.

    Users given by `email:` or `mobile:` instead of `open_id:` are looked up with `directory` first
    (app.importer.addresses)."""
    if not text.lstrip("\ufeff").strip():
        raise _rejected(EMPTY_FILE)
    data, lines = _load_json(text) if is_json else _load_yaml(text)
    if data is None:
        raise _rejected(EMPTY_FILE)
    if not isinstance(data, dict):
        problem = Problem("file", "must be a mapping with users, fixed_events, tasks and blocks", 1)
        raise ImportRejectedError(ImportErrorCode.INVALID, [problem])
    problems = list(lines.duplicates)
    addressed = resolve_addresses(data, lines.line, directory)
    problems.extend(addressed.problems)
    lines.left_out_users.update(addressed.left_out)
    records: dict[str, list[Record]] = {name: [] for name in _RECORDS}
    for name, value in data.items():
        section = str(name)
        if section not in _RECORDS:
            expected = "users, fixed_events, tasks and blocks"
            problems.append(
                Problem(section, f"unknown section (the sections are {expected})", lines.line([section]))
            )
            continue
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(Problem(section, "must be a list of records", lines.line([section])))
            continue
        for i, item in enumerate(value):
            if section == "users" and i in addressed.skip_users:
                continue
            try:
                records[section].append(_RECORDS[section].model_validate(item))
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    loc = (section, i, *err["loc"])
                    problems.append(Problem(format_loc(loc), _message(err), lines.line(loc)))
                _left_out(section, item, lines)
    doc = ImportFile.model_validate(records)
    if not problems and _count(doc) == 0:
        raise ImportRejectedError(ImportErrorCode.INVALID, [Problem("file", NO_RECORDS)])
    lines.problems = list(dict.fromkeys(problems))
    return doc, lines


def _count(doc: ImportFile) -> int:
    return len(doc.users) + len(doc.fixed_events) + len(doc.tasks) + len(doc.blocks)


def _left_out(section: str, item: object, lines: LineMap) -> None:
    if not isinstance(item, dict):
        return
    user = item.get("open_id" if section == "users" else "user")
    if not isinstance(user, str):
        return
    if section == "users":
        lines.left_out_users.add(user.strip())
    elif section == "tasks" and isinstance(item.get("key"), str):
        lines.left_out_tasks.add((user.strip(), str(item["key"]).strip()))


def _message(err: ErrorDetails) -> str:
    kind, value, ctx = err["type"], err["input"], err.get("ctx") or {}
    if kind == "string_too_long" and isinstance(value, str):
        return f"at most {ctx.get('max_length')} characters (got {len(value)})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "must be a record (a mapping of field names to values)"
    msg = err["msg"].removeprefix("Value error, ")
    if kind != "value_error" and isinstance(value, str | int | float | bool):
        return f"{msg} (got {value!r})"
    return msg


def read_file(path: Path, directory: Directory | None = None) -> tuple[ImportFile, LineMap]:
    """Read FILE; `.json` is JSON, anything else YAML (JSON is accepted there too)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _rejected(f"cannot read {path}: {exc}") from exc
    return parse_text(text, is_json=path.suffix.lower() == ".json", directory=directory)
