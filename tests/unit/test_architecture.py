"""The dependency rules of STYLE.md, checked on the source: who may import whom, and where I/O may live."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("app", "bot", "scheduler", "llm", "store", "prompts")
IO_LIBRARIES = {
    "sqlalchemy", "aiomysql", "aiosqlite", "pymysql", "httpx", "openai", "lark_oapi", "requests",
    "starlette", "uvicorn", "apscheduler", "socket", "asyncio", "os", "subprocess", "prometheus_client",
}  # fmt: skip

# package -> the packages of ours it may import (besides itself). The bot reaches the system only through
# the use cases (scheduler.services) and implements the worker's delivery port (scheduler.worker.sender).
ALLOWED: dict[str, set[str]] = {
    "store": set(),
    "scheduler.planning": set(),
    "prompts": set(),
    "llm": {"prompts"},
    "scheduler.services": {"scheduler.planning", "store", "llm"},
    "scheduler.worker.sender": {"scheduler.services"},
    "scheduler.worker": {"scheduler.services", "store"},
    "bot": {"scheduler.services", "scheduler.worker.sender"},
    "app": set(OURS)
    | {"scheduler.planning", "scheduler.services", "scheduler.worker", "scheduler.worker.sender"},
    "scheduler": set(),  # the namespace package's own __init__
}
# Only the store speaks SQL: no module elsewhere imports SQLAlchemy or a database driver.
DATABASE_LIBRARIES = {"sqlalchemy", "aiomysql", "aiosqlite", "pymysql", "alembic"}


def _package(module: str) -> str | None:
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out.append((module, path))
    return out


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_follow_the_dependency_direction(module: str, path: Path) -> None:
    own = _package(module)
    assert own is not None, f"{module} belongs to no known package"
    for imported in _imports(path):
        top = imported.split(".")[0]
        if top == "lark_oapi":
            assert module.startswith("bot.feishu."), f"{module} imports lark_oapi: only bot/feishu/ may"
        if top not in OURS:
            continue
        target = _package(imported) or top
        if target == own or (target.startswith(own + ".") and own != "scheduler"):
            continue
        assert target in ALLOWED[own], f"{module} imports {imported}: {own} may not depend on {target}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_only_the_store_imports_a_database_library(module: str, path: Path) -> None:
    if module.startswith("store.") or module == "store":
        return
    for imported in _imports(path):
        assert imported.split(".")[0] not in DATABASE_LIBRARIES, (
            f"{module} imports {imported}: only store/ may"
        )


@pytest.mark.parametrize(
    "path", sorted((ROOT / "scheduler" / "planning").rglob("*.py")), ids=lambda p: p.name
)
def test_the_planning_engine_does_no_io(path: Path) -> None:
    for imported in _imports(path):
        assert imported.split(".")[0] not in IO_LIBRARIES, f"{path.name} imports {imported}"
    source = path.read_text(encoding="utf-8")
    assert "datetime.now(" not in source
    assert "os.environ" not in source


def test_only_the_settings_read_the_environment() -> None:
    for module, path in _modules():
        if module == "app.settings":
            continue
        assert "os.environ" not in path.read_text(encoding="utf-8"), f"{module} reads os.environ"
