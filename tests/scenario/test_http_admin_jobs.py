"""/admin jobs: the pending jobs, then the latest skipped or canceled ones with why, in the admin's words."""

from __future__ import annotations

from datetime import timedelta

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ADMIN, ALICE, NOW, Harness


async def _ask(h: Harness, open_id: str, text: str) -> str:
    before = len(h.texts_to(open_id))
    await h.message(open_id, text)
    await h.settle()
    (reply,) = h.texts_to(open_id)[before:]
    return reply


async def test_a_canceled_job_is_listed_with_why(harness: Harness) -> None:
    h = harness
    alice = await h.add_user(ALICE, name="李爱丽")
    await h.add_task(
        alice, "实验报告", deadline=NOW + timedelta(hours=30), urgency_threshold_at=NOW + timedelta(hours=6)
    )
    await h.add_task(
        alice, "周报", deadline=NOW + timedelta(hours=30), urgency_threshold_at=NOW + timedelta(hours=8)
    )
    await _ask(h, ALICE, "/done 实验报告")

    zh = await _ask(h, ADMIN, "/admin jobs")
    await _ask(h, ADMIN, "/prefs lang en")
    en = await _ask(h, ADMIN, "/admin jobs")

    assert "计时器：canceled=1, pending=1" in zh
    assert "11-30 17:00 周报（李爱丽）" in zh  # still pending
    assert "最近跳过或取消的（Asia/Shanghai 时间）：" in zh
    assert "实验报告（李爱丽）· 已取消：任务已完成" in zh
    assert "实验报告 (李爱丽) · canceled: the task is done" in en
