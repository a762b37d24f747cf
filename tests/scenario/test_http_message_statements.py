"""A chat message costs one transaction for its handling, plus two for its answer (stored, then recorded as
sent), and a handful of statements (counted with tests/statements.py)."""

from __future__ import annotations

import pytest

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at
from tests.statements import StatementLog, count_statements

# Ceilings = what was measured (SQLite and MariaDB alike); every message is one transaction:
#   /add with a deadline: inbox insert, sender, task insert, job insert, inbox settled = 5
#   /today: inbox insert, sender, blocks, their tasks, fixed events, day extensions, inbox settled = 7
#   a redelivered message: the inbox insert that collides, nothing else = 1
# /today reads the blocks, tasks, fixed events, day extensions and the copy of the Feishu busy time.
# /add also reads the open tasks (a title already taken is asked about, not added twice).
# The answer: its sender, its notification inserted (one commit), then marked sent (one commit) = 3 more.
ANSWER = 3
CEILINGS = {"/add 周报 30 by 明天18:00": 6 + ANSWER, "/today": 8 + ANSWER}


async def _counted(h: Harness, text: str, **kw: object) -> StatementLog:
    with count_statements(h.store) as log:
        await h.message(ALICE, text, **kw)
        await h.settle()
    return log


@pytest.mark.parametrize("text", list(CEILINGS))
async def test_a_message_is_one_transaction_of_few_statements(harness: Harness, text: str) -> None:
    h = harness
    alice = await h.add_user(ALICE)
    task = await h.add_task(alice, "实验报告")
    await h.add_block(alice, task, at(10), 60)

    log = await _counted(h, text, message_id="om_counted")
    again = await _counted(h, text, message_id="om_counted")

    assert log.count <= CEILINGS[text], str(log)
    assert log.commits == 3, str(log)  # the handling, the answer stored, the answer sent
    assert again.count <= 1, str(again)
    assert again.commits == 0, str(again)
    assert len(h.texts_to(ALICE)) == 1  # the redelivery answered nothing
