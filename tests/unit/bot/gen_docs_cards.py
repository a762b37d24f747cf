"""Sample card views for the snapshot tests and docs/cards/*.json; run as a module to regenerate."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cards import (
    ActedCard,
    AppliedCard,
    CardChoice,
    CardOption,
    ErrorCard,
    ExpiredCard,
    IgnoredCard,
    NotifyOnlyCard,
    PreviewCard,
    UndoneCard,
    build_acted_card,
    build_applied_card,
    build_error_card,
    build_expired_card,
    build_ignored_card,
    build_notify_only_card,
    build_preview_card,
    build_undone_card,
)

ROOT = Path(__file__).resolve().parents[3]
DOCS_DIR = ROOT / "docs" / "cards"
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
TZ = "Asia/Shanghai"
EXPIRES = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai
UNDO_UNTIL = datetime(2026, 12, 1, 6, 10, tzinfo=UTC)

PREVIEW_ZH = PreviewCard(
    preview_id="pv_8f3a2c",
    locale="zh",
    timezone=TZ,
    title="实验报告",
    decision="propose",
    explanation="你说实验报告还差 30 分钟。15:00 之后正好有空档，建议在 15:00-15:30 补做，不影响其他安排。",
    expires_at=EXPIRES,
    options=(
        CardOption(
            candidate_id="c_push_3c4d",
            label="",
            summary="补做紧接在 14:00 之后，高数作业顺延 30 分钟",
            before="14:00-15:00 实验报告\n15:00-16:00 高数作业",
            after="14:00-15:00 实验报告\n15:00-15:30 实验报告（补做）\n15:30-16:30 高数作业",
            risk_level="medium",
            type="push_successors",
        ),
        CardOption(
            candidate_id="c_makeup_1a2b",
            label="补做时段",
            summary="新增 实验报告 16:00-16:30",
            before="15:00-16:00 高数作业\n16:00-16:30 空闲",
            after="15:00-16:00 高数作业\n16:00-16:30 实验报告（补做）",
            risk_level="low",
            type="makeup_block",
        ),
        CardOption(
            candidate_id="c_extend_5e6f",
            label="",
            summary="今天延长到 23:00，在 22:30-23:00 补做",
            before="今天 08:00-22:30",
            after="今天 08:00-23:00\n22:30-23:00 实验报告（补做）",
            risk_level="medium",
            type="extend_day",
        ),
    ),
    chosen_id="c_makeup_1a2b",
    risk_level="low",
    summary="实验报告：建议 16:00-16:30 补做",
)

PREVIEW_EN = PreviewCard(
    preview_id="pv_41d7e0",
    locale="en",
    timezone=TZ,
    # user text with markdown and a mention: must show literally, not format or notify anyone
    title="Essay *draft* [v2] <at id=all></at>",
    decision="propose",
    explanation="The essay is due tomorrow 09:00 and has no time planned. 19:00-20:30 is free tonight.",
    expires_at=EXPIRES,
    options=(
        CardOption(
            candidate_id="c_place_9a0b",
            label="Evening block",
            summary="Add Essay *draft* 19:00-20:30",
            before="18:00-19:00 Dinner\n19:00-20:30 free",
            after="18:00-19:00 Dinner\n19:00-20:30 Essay *draft* [v2]",
            risk_level="low",
            type="place_task",
        ),
        CardOption(
            candidate_id="c_split_7c8d",
            label="",
            summary="Two parts: 16:00-16:45 and 21:00-21:45",
            before="16:00-16:45 free\n21:00-21:45 free",
            after="16:00-16:45 Essay (1/2)\n21:00-21:45 Essay (2/2)",
            risk_level="low",
            type="split_task",
        ),
    ),
    chosen_id="c_place_9a0b",
    risk_level="low",
)

ASK_USER = PreviewCard(
    preview_id="pv_ask_5b21",
    locale="zh",
    timezone=TZ,
    title="没做完的安排",
    decision="ask_user",
    explanation="刚才有两段安排刚结束，我不确定你说的是哪一个。",
    expires_at=EXPIRES,
    question="你说没做完的是哪一段？",
    choices=(CardChoice("blk_101", "13:00-14:00 实验报告"), CardChoice("blk_102", "14:00-15:00 高数作业")),
)

NOTIFY_ONLY = NotifyOnlyCard(
    preview_id="pv_warn_77e1",
    locale="zh",
    timezone=TZ,
    title="高数期末复习",
    warning="截止前只剩 90 分钟空闲，而这项任务还需要 240 分钟，按现在的安排赶不上截止时间。"
    "可以考虑申请延期，或者减少其他安排。",
    details=("截止：12-01 09:00", "还需要：240 分钟", "截止前空闲：90 分钟"),
    risk_level="high",
)


DEADLINE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
# No option finishes before the deadline: said first, late options, and what else can be done.
PREVIEW_LATE = replace(PREVIEW_ZH, late=True, deadline=DEADLINE, risk_level="high")
NEW_DEADLINE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def samples() -> dict[str, Callable[[], dict[str, Any]]]:
    """Every sample card by name (snapshot file name without .json)."""
    return {
        "preview_zh": lambda: build_preview_card(PREVIEW_ZH),
        "preview_en": lambda: build_preview_card(PREVIEW_EN),
        "ask_user": lambda: build_preview_card(ASK_USER),
        "notify_only": lambda: build_notify_only_card(NOTIFY_ONLY),
        "preview_late": lambda: build_preview_card(PREVIEW_LATE),
        "preview_late_en": lambda: build_preview_card(
            replace(PREVIEW_EN, late=True, deadline=DEADLINE, risk_level="high")
        ),
        "notify_only_late": lambda: build_notify_only_card(
            replace(NOTIFY_ONLY, late=True, deadline=datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
        ),
        "acted_deadline": lambda: build_acted_card(ActedCard(PREVIEW_LATE, "deadline", NEW_DEADLINE)),
        "acted_snooze": lambda: build_acted_card(ActedCard(PREVIEW_LATE, "snooze", NEW_DEADLINE)),
        "acted_drop_en": lambda: build_acted_card(
            ActedCard(replace(PREVIEW_EN, late=True, deadline=DEADLINE), "drop")
        ),
        "applied": lambda: build_applied_card(
            AppliedCard(PREVIEW_ZH, "c_makeup_1a2b", ("新增 16:00-16:30 实验报告（补做）",), UNDO_UNTIL)
        ),
        "applied_en": lambda: build_applied_card(
            AppliedCard(PREVIEW_EN, "c_place_9a0b", ("Added 19:00-20:30 Essay *draft* [v2]",), UNDO_UNTIL)
        ),
        "ignored": lambda: build_ignored_card(IgnoredCard(PREVIEW_ZH)),
        "expired": lambda: build_expired_card(ExpiredCard(PREVIEW_ZH)),
        "expired_en": lambda: build_expired_card(ExpiredCard(PREVIEW_EN)),
        "undone": lambda: build_undone_card(UndoneCard(PREVIEW_ZH, ("删除 16:00-16:30 实验报告（补做）",))),
        "error": lambda: build_error_card(ErrorCard("zh", "base_version_changed", title="实验报告")),
        "error_en": lambda: build_error_card(ErrorCard("en", "slot_conflict", title="Essay")),
    }


DOC_NAMES = (
    "preview_zh",
    "preview_en",
    "ask_user",
    "applied",
    "ignored",
    "expired",
    "error",
    "notify_only",
    "undone",
    "preview_late",
)


def dump(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    built = {name: dump(make()) for name, make in samples().items()}
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in built.items():
        (SNAPSHOT_DIR / f"{name}.json").write_text(text, encoding="utf-8")
    for name in DOC_NAMES:
        (DOCS_DIR / f"{name}.json").write_text(built[name], encoding="utf-8")


if __name__ == "__main__":
    main()
