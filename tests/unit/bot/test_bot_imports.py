"""The bot talks to scheduler.services only: no store, planning, worker internals, llm or sqlalchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("store", "scheduler.planning", "scheduler.worker", "llm", "sqlalchemy")
ALLOWED = ("scheduler.worker.sender",)  # the Sender contract the bot implements
# Not yet moved behind the services (their owners' work): the click path, the cards, the Feishu edge, the app.
PENDING = ("bot/handlers/clicks.py", "bot/cards/", "bot/feishu/", "bot/app.py")


def _bot_modules() -> list[Path]:
    paths = sorted((ROOT / "bot").rglob("*.py"))
    return [p for p in paths if not str(p.relative_to(ROOT)).startswith(PENDING)]


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", _bot_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_bot_modules_import_only_the_services(path: Path) -> None:
    for name in _imports(path):
        if name.startswith(ALLOWED):
            continue
        bad = [f for f in FORBIDDEN if name == f or name.startswith(f + ".")]
        assert not bad, f"{path.relative_to(ROOT)} imports {name}: the bot goes through scheduler.services"
