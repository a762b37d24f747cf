"""Import errors: every problem names its record (section[index].field) and, when known, its line."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ImportErrorCode(StrEnum):
    UNREADABLE = "import_unreadable"  # the file cannot be read or parsed
    INVALID = "import_invalid"  # the file parsed but some records are wrong


@dataclass(frozen=True, order=True)
class Problem:
    """One bad value: `where` is e.g. `tasks[3].quadrant`; `line` is 1-based when known."""

    where: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        at = f" (line {self.line})" if self.line is not None else ""
        return f"{self.where}{at}: {self.message}"


class ImportRejectedError(Exception):
    """The file was rejected before anything was written."""

    def __init__(self, code: ImportErrorCode, problems: list[Problem]) -> None:
        self.code = code
        self.problems = problems
        super().__init__(f"{code}: {len(problems)} problem(s)")
