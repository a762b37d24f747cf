"""`smartflow import` with users given by `email:` or `mobile:` instead of an open_id: looked up in the fake
Feishu (batch_get_id); other records may name the user by the same address; an unknown one is listed with its
record, field and line, and nothing is written."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from store import Store
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu

FILE = """\
users:
  - {email: lin@example.com, name: 林小雨, timezone: Asia/Shanghai}
  - {mobile: "+8613800000000", name: Wang}
tasks:
  - {user: lin@example.com, key: lab, title: 物理实验报告, estimate_minutes: 60}
  - {user: "+8613800000000", key: slides, title: Slides, estimate_minutes: 30}
"""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as pair:
        yield pair


@pytest.fixture
def feishu(served: tuple[FakeFeishu, str]) -> Iterator[FakeFeishu]:
    fake = served[0]
    fake.add_directory_user("ou_lin", email="lin@example.com")
    fake.add_directory_user("ou_wang", mobile="+8613800000000")
    yield fake
    fake.reset()


def run(db_url: str, url: str | None, path: Path) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SMARTFLOW_")}
    env["SMARTFLOW_DATABASE_URL"] = db_url
    if url is not None:
        env.update(
            SMARTFLOW_FEISHU_APP_ID="cli_fake",
            SMARTFLOW_FEISHU_APP_SECRET="fake-secret",
            SMARTFLOW_FEISHU_DOMAIN=url,
        )
    return CliRunner().invoke(main, ["import", str(path)], env=env)


async def _tasks(db_url: str) -> dict[str, list[str]]:
    store = Store(db_url)
    try:
        async with store.uow(readonly=True) as uow:
            out = {}
            for open_id in ("ou_lin", "ou_wang"):
                user = await uow.users.get_by_open_id(open_id)
                if user is not None:
                    out[f"{open_id}:{user.name}"] = sorted(t.title for t in await uow.tasks.for_user(user.id))
            return out
    finally:
        await store.dispose()


def tasks(db_url: str) -> dict[str, list[str]]:
    return asyncio.run(_tasks(db_url))


def test_users_by_email_and_mobile_are_looked_up(
    db_url: str, tmp_path: Path, served: tuple[FakeFeishu, str], feishu: FakeFeishu
) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(FILE, encoding="utf-8")
    result = run(db_url, served[1], path)
    assert result.exit_code == 0, result.output
    assert tasks(db_url) == {"ou_lin:林小雨": ["物理实验报告"], "ou_wang:Wang": ["Slides"]}
    again = run(db_url, served[1], path)  # idempotent: the same open_ids, nothing new
    assert "users         created      0" in again.stdout


def test_an_unknown_address_is_listed_with_its_line_and_nothing_is_written(
    db_url: str, tmp_path: Path, served: tuple[FakeFeishu, str], feishu: FakeFeishu
) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(FILE.replace("lin@example.com", "nobody@example.com"), encoding="utf-8")
    result = run(db_url, served[1], path)
    assert result.exit_code == 1
    assert "users[0].email (line 2)" in result.stderr
    assert "no Feishu user with email 'nobody@example.com'" in result.stderr
    assert "unknown user 'nobody@example.com'" not in result.stderr  # reported once, at the user
    assert tasks(db_url) == {}


def test_without_a_feishu_app_the_address_is_refused_by_name(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(FILE, encoding="utf-8")
    result = run(db_url, None, path)
    assert result.exit_code == 1
    assert "users[0].email (line 2)" in result.stderr
    assert "SMARTFLOW_FEISHU_APP_ID" in result.stderr
    assert tasks(db_url) == {}
