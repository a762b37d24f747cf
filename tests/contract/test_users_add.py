"""`smartflow users add --email/--mobile` over the fake Feishu's batch_get_id: open_ids found, unknown ones
refused by name with nothing written, a missing scope named."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from store import Store
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu


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


def run(db_url: str, url: str, *args: str) -> Result:
    clean = {k: None for k in os.environ if k.startswith("SMARTFLOW_")}
    env = {
        **clean,
        "SMARTFLOW_DATABASE_URL": db_url,
        "SMARTFLOW_FEISHU_APP_ID": "cli_fake",
        "SMARTFLOW_FEISHU_APP_SECRET": "fake-secret",
        "SMARTFLOW_FEISHU_DOMAIN": url,
        "SMARTFLOW_TIMEZONE": "Europe/Berlin",
    }
    return CliRunner().invoke(main, ["users", "add", *args], env=env)


async def _users(db_url: str) -> dict[str, tuple[str, str]]:
    store = Store(db_url)
    try:
        async with store.uow(readonly=True) as uow:
            found = {}
            for open_id in ("ou_lin", "ou_wang"):
                user = await uow.users.get_by_open_id(open_id)
                if user is not None:
                    found[open_id] = (user.name, user.timezone)
            return found
    finally:
        await store.dispose()


def users(db_url: str) -> dict[str, tuple[str, str]]:
    return asyncio.run(_users(db_url))


def test_users_are_added_by_email_and_mobile(
    db_url: str, served: tuple[FakeFeishu, str], feishu: FakeFeishu
) -> None:
    url = served[1]
    first = run(db_url, url, "--email", "lin@example.com", "--name", "林小雨")
    assert first.exit_code == 0, first.output
    assert first.stdout == "added         ou_lin  (email lin@example.com)\n"
    both = run(db_url, url, "--email", "lin@example.com", "--mobile", "+8613800000000")
    assert both.exit_code == 0, both.output
    assert "already there ou_lin  (email lin@example.com)" in both.stdout
    assert "added         ou_wang  (mobile +8613800000000)" in both.stdout
    assert users(db_url) == {"ou_lin": ("林小雨", "Europe/Berlin"), "ou_wang": ("ou_wang", "Europe/Berlin")}


def test_an_unknown_address_is_named_and_nothing_is_added(
    db_url: str, served: tuple[FakeFeishu, str], feishu: FakeFeishu
) -> None:
    result = run(
        db_url, served[1], "--email", "lin@example.com", "--email", "nobody@example.com", "--mobile", "1"
    )
    assert result.exit_code == 1
    assert "nothing was added" in result.stderr
    assert "email nobody@example.com" in result.stderr
    assert "mobile 1" in result.stderr
    assert "lin@example.com" not in result.stderr
    assert users(db_url) == {}


def test_a_missing_contact_scope_is_named(
    db_url: str, served: tuple[FakeFeishu, str], feishu: FakeFeishu
) -> None:
    feishu.deny_scopes("contact:user.id:readonly")
    result = run(db_url, served[1], "--email", "lin@example.com")
    assert result.exit_code == 1
    assert "contact:user.id:readonly" in result.stderr
    assert users(db_url) == {}


def test_usage_errors(db_url: str, served: tuple[FakeFeishu, str], feishu: FakeFeishu) -> None:
    assert run(db_url, served[1]).exit_code == 2
    two = run(db_url, served[1], "--email", "a@x", "--email", "b@x", "--name", "A")
    assert two.exit_code == 2
    assert "--name goes with exactly one" in two.stderr
