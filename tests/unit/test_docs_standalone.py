"""The README and docs/ stand on their own and match the code: no references to files outside the
repository, every /prefs option documented, a test database that is not the server's `test`."""

from __future__ import annotations

import re
from pathlib import Path

from bot.parse.prefs import PREFS_USAGE

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_no_document_points_outside_the_repository() -> None:
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text, path
        assert "SPEC.md" not in text, path
        assert re.search(r"§\s*\d|spec(ification)? section \d", text, re.IGNORECASE) is None, path


def test_every_prefs_option_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = " ".join(line for line in readme.splitlines() if line.startswith("| `/prefs"))
    options = re.findall(r"\[(\w+) ", PREFS_USAGE)
    assert {"day", "quiet", "lang", "tz", "cap"} <= set(options)
    for option in options:
        assert f"[{option} " in row, option


def test_the_readmes_test_database_is_one_of_its_own() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"3306/test\b", readme) is None
    assert "mysql+aiomysql://root@127.0.0.1:3306/smartflow_test" in readme
    assert "CREATE DATABASE smartflow_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" in readme
