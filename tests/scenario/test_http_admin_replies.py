"""Admin commands through the real HTTP app: who counts as an admin (the list or the imported role), and
replies in the admin's language with local times."""

from __future__ import annotations

import dataclasses
import re

from app import importer
from app.settings import load_settings
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ADMIN, ALICE, BOB, Harness

CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
# English words of the admin replies' skeleton: none of them belongs in a Chinese reply
ENGLISH_SKELETON = re.compile(
    r"(?m)^\s*(dry run|window |target |decision |metrics |issues$|candidates|before:|after:|score |reason:|"
    r"choice |explanation:|summary:|users:|tasks:|notifications:|Trigger |Notifications|Stats|Jobs)"
    r"|nothing was written| · preview |attempts=|at=|task=| · fit "
)

TEAM = """
users:
  - open_id: ou_carol
    name: Carol
    locale: en
    timezone: America/New_York
    admin: true
  - open_id: ou_dave
    name: Dave
  - open_id: ou_alice
    name: 李爱丽
tasks:
  - key: lab
    user: ou_alice
    title: 实验报告
    estimate_minutes: 90
    deadline: 2026-11-30T20:00:00+08:00
    urgency_threshold_at: 2026-11-30T15:00:00+08:00
  - key: essay
    user: ou_carol
    title: essay draft
    estimate_minutes: 60
    deadline: 2026-12-01T18:00:00-05:00
"""


async def _import(h: Harness, text: str = TEAM) -> None:
    settings = load_settings(admins=ADMIN, timezone="Asia/Shanghai")
    doc, lines = importer.parse_text(text, is_json=False)
    async with h.store.uow() as uow:
        result = await importer.import_document(
            uow, doc, lines, importer.defaults_from_settings(settings), h.clock.now
        )
        await importer.after_import(uow, result.task_ids, h.clock.now)
        await uow.commit()


async def _ask(h: Harness, open_id: str, text: str, replies: int = 1) -> list[str]:
    before = len(h.texts_to(open_id))
    await h.message(open_id, text)
    await h.settle()
    got = h.texts_to(open_id)[before:]
    assert len(got) == replies, got
    return got


async def test_an_imported_admin_may_use_admin_commands_and_others_may_not(harness: Harness) -> None:
    h = harness
    await _import(h)

    (stats,) = await _ask(h, "ou_carol", "/admin stats")  # admin: true in the file, not in SMARTFLOW_ADMINS
    (refused,) = await _ask(h, "ou_dave", "/admin stats")
    (refused_trigger,) = await _ask(h, "ou_dave", f"/admin trigger {ALICE} 实验报告")

    assert stats.startswith("Stats:")
    assert refused == refused_trigger == "你没有权限使用这个命令。"
    assert await h.count("triggers") == 0
    assert await h.count("audit_log", actor="ou_carol", outcome="ok") == 1
    assert await h.count("audit_log", actor="ou_dave", outcome="refused") == 2

    # re-importing without `admin: true` takes the role away again
    await _import(h, TEAM.replace("    admin: true\n", ""))
    (again,) = await _ask(h, "ou_carol", "/admin stats")
    assert again == "You are not allowed to use this command."


async def test_a_chinese_admin_gets_chinese_replies_with_local_times(harness: Harness) -> None:
    h = harness
    await _import(h)

    (started, report) = await _ask(h, ADMIN, f"/admin dryrun {ALICE} 实验报告", replies=2)
    (created, result) = await _ask(h, ADMIN, f"/admin trigger {ALICE} 实验报告", replies=2)
    (hit,) = await _ask(h, ADMIN, f"/admin trigger {ALICE} 实验报告")
    (jobs,) = await _ask(h, ADMIN, "/admin jobs")
    (waiting,) = await _ask(h, ADMIN, "/admin notifications")
    (stats,) = await _ask(h, ADMIN, "/admin stats")

    for reply in (started, report, created, result, hit, jobs, waiting, stats):
        assert not ENGLISH_SKELETON.search(reply), reply
    assert report.startswith("试运行：李爱丽（ou_alice）")
    assert "11-30 09:00 → 12-01 09:00" in report
    assert "已生成建议" in result
    assert "提出方案" in result
    assert "半小时内已触发过" in hit
    # the job of 实验报告 fires at 15:00 Shanghai time: shown so, with its title and owner, not as UTC
    assert "11-30 15:00 实验报告（李爱丽）" in jobs
    assert "07:00" not in jobs
    assert stats.startswith("统计：\n用户：4\n")
    assert "计时器：pending=1" in stats
    assert waiting.startswith("通知（失败、推迟或等待发送的）：")


async def test_an_english_admin_reads_the_dry_run_of_a_chinese_user_in_english(harness: Harness) -> None:
    h = harness
    await _import(h)
    await _ask(h, ADMIN, "/prefs lang en")

    (started, report) = await _ask(h, ADMIN, f"/admin dryrun {ALICE} 实验报告", replies=2)

    assert started.startswith("Dry run started")
    lines = report.splitlines()
    assert lines[0] == "dry run for 李爱丽 (ou_alice) · Asia/Shanghai · nothing was written"
    # everything but the user's name, the task's title and the texts the user herself would read is English
    own = [line for line in lines if not line.startswith(("  explanation:", "  summary:"))]
    rest = "\n".join(own).replace("李爱丽", "").replace("实验报告", "")
    assert not CJK.search(rest), rest
    assert "what the user would read (Chinese):" in report


async def test_a_non_admin_gets_not_allowed_and_nothing_else(harness: Harness) -> None:
    h = harness
    await _import(h)
    before = await h.snapshot()

    for text in ("/admin jobs", "/admin dryrun ou_alice 实验报告", "/admin bogus"):
        (reply,) = await _ask(h, BOB, text)
        assert reply == "你没有权限使用这个命令。"

    after = await h.snapshot()
    assert after["triggers"] == before["triggers"]
    assert await h.count("audit_log", actor=BOB, outcome="refused") == 3


async def test_removing_an_open_id_from_the_admin_list_revokes_it_at_once(harness: Harness) -> None:
    """SMARTFLOW_ADMINS is read live: being listed when first seen (or imported) stores no admin role."""
    h = harness
    (stats,) = await _ask(h, ADMIN, "/admin stats")  # first message: the user row is created now
    listed = f"  - open_id: {ADMIN}\n    name: Admin\ntasks:"
    await _import(h, TEAM.replace("tasks:", listed, 1))  # imported while listed
    deps = h.app.state.deps
    deps.config = dataclasses.replace(deps.config, admins=frozenset())  # the operator removed them
    (refused,) = await _ask(h, ADMIN, "/admin stats")

    assert stats.startswith("统计")
    assert refused == "你没有权限使用这个命令。"


async def test_admin_commands_pick_among_equal_titles_like_done(harness: Harness) -> None:
    h = harness
    await _import(h)
    alice = await h.add_user("ou_alice2", name="Alice2")
    await h.add_task(alice, "写周报", estimate_minutes=30)
    h.clock.advance(minutes=1)
    await h.add_task(alice, "写周报", estimate_minutes=45)

    (listing,) = await _ask(h, ADMIN, "/admin dryrun ou_alice2 写周报")
    _, picked = await _ask(h, ADMIN, "/admin dryrun ou_alice2 写周报 #2", replies=2)
    (short,) = await _ask(h, ADMIN, "/admin trigger ou_alice2 写")

    assert "有 2 个任务匹配「写周报」" in listing
    assert "/admin dryrun ou_alice2 写周报 #1" in listing
    assert picked.startswith("试运行：Alice2"), picked
    assert "needed_minutes=45" in picked  # the second 写周报 (45 minutes), as /done 写周报 #2 would pick
    assert "太短" in short
    assert await h.count("triggers") == 0
