"""Statement ceiling of one delivery batch: a claim, its plans, then a fixed handful per card (engine event
counter)."""

from __future__ import annotations

from datetime import datetime

from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from scheduler.worker.delivery import Delivery
from store import Store
from tests.contract.worker.conftest import CONFIG, seed_preview
from tests.fakes.fake_feishu import FakeFeishu
from tests.statements import count_statements

CARDS = 3
# Measured on SQLite and MariaDB: the claim (SELECT, one executemany UPDATE); the batch's plans in one read
# transaction, whatever its size (the rows, their users, the previews' views: preview, user, task, trigger,
# change set; the users' cards today); per card, 3 to mark it sending (user lock, cards today, the UPDATE
# guarded by the preview still being ready) and 2 to record it (notification, the preview's message id).
CLAIM_STATEMENTS = 2
BATCH_STATEMENTS = 8
PER_CARD_STATEMENTS = 5


async def test_one_delivery_batch_stays_under_its_statement_ceiling(
    store: Store, feishu: FeishuClient, fake: FakeFeishu, now: datetime
) -> None:
    ids = [await seed_preview(store, now, open_id=f"ou_batch{i}") for i in range(CARDS)]
    delivery = Delivery(store, FeishuSender(feishu), CONFIG, "test-worker")
    with count_statements(store) as log:
        stats = await delivery.run(lambda: now)
    assert stats.outcomes == {"sent": CARDS}
    assert sorted(m.receive_id for m in fake.messages) == sorted(i["open_id"] for i in ids)
    assert log.count <= CLAIM_STATEMENTS + BATCH_STATEMENTS + PER_CARD_STATEMENTS * CARDS, str(log)
    assert log.commits <= 1 + 2 * CARDS, str(log)
