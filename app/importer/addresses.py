"""Import users by `email:` or `mobile:` instead of an open_id: look the open_ids up, then write them in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.importer.errors import Problem

# (emails, mobiles) -> {("email"|"mobile", value): open_id, or None when Feishu does not know it}
Directory = Callable[[Sequence[str], Sequence[str]], Mapping[tuple[str, str], str | None]]
KINDS = ("email", "mobile")


@dataclass(frozen=True)
class Resolved:
    problems: list[Problem] = field(default_factory=list)
    left_out: set[str] = field(default_factory=set)  # addresses of users that could not be resolved
    skip_users: set[int] = field(default_factory=set)  # their indexes in `users` (already reported)


NO_DIRECTORY = (
    "looking up a user by {kind} needs the Feishu app (SMARTFLOW_FEISHU_APP_ID and "
    "SMARTFLOW_FEISHU_APP_SECRET); or give open_id"
)


def resolve_addresses(
    data: dict[Any, Any], line: Callable[[Sequence[str | int]], int | None], directory: Directory | None
) -> Resolved:
    """Give every `users` record that has an `email` or `mobile` but no `open_id` the open_id Feishu knows,
    and let records of the other sections name that user by the same address (`user: lin@example.com`).
    Works on the raw document, in place, before the shape check; `email`/`mobile` are removed from the
    records. Returns the problems (an unknown address, by record, field and line) and the addresses of the
    users left out (so that references to them are not reported again)."""
    users = data.get("users")
    if not isinstance(users, list):
        return Resolved()
    wanted: list[tuple[int, str, str]] = []  # (index, kind, value)
    for i, item in enumerate(users):
        if not isinstance(item, dict):
            continue
        present = [(k, item[k]) for k in KINDS if k in item]
        if not present:
            continue
        users[i] = {k: v for k, v in item.items() if k not in KINDS}
        if "open_id" in item:
            continue  # the open_id is given: the address only documents who it is
        kind, value = present[0]
        if isinstance(value, str) and value.strip():
            wanted.append((i, kind, value.strip()))
        # else: the shape check reports the missing open_id
    if not wanted:
        return Resolved()
    problems: list[Problem] = []
    left_out: set[str] = set()
    if directory is None:
        for i, kind, value in wanted:
            problems.append(
                Problem(f"users[{i}].{kind}", NO_DIRECTORY.format(kind=kind), line(("users", i, kind)))
            )
            left_out.add(value)
        return Resolved(problems, left_out, {i for i, _, _ in wanted})
    found = directory([v for _, k, v in wanted if k == "email"], [v for _, k, v in wanted if k == "mobile"])
    resolved: dict[str, str] = {}
    unknown: set[int] = set()
    for i, kind, value in wanted:
        open_id = found.get((kind, value))
        if open_id is None:
            message = (
                f"no Feishu user with {kind} {value!r} (unknown, or outside the app's availability scope)"
            )
            problems.append(Problem(f"users[{i}].{kind}", message, line(("users", i, kind))))
            left_out.add(value)
            unknown.add(i)
        else:
            users[i] = {"open_id": open_id, **users[i]}
            resolved[value] = open_id
    for section in ("fixed_events", "tasks", "blocks"):
        records = data.get(section)
        if not isinstance(records, list):
            continue
        for j, item in enumerate(records):
            if isinstance(item, dict) and isinstance(item.get("user"), str):
                ref = item["user"].strip()
                if ref in resolved:
                    records[j] = {**item, "user": resolved[ref]}
    return Resolved(problems, left_out, unknown)
