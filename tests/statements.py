"""Count the SQL a piece of work sends (statements and transactions) with engine event listeners."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from store import Store


@dataclass
class StatementLog:
    """What went to the database while the counter was open."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0

    @property
    def count(self) -> int:
        """Statements sent, not counting BEGIN / COMMIT / ROLLBACK / PRAGMA / pings."""
        return len(self.statements)

    @property
    def verbs(self) -> Counter[str]:
        return Counter(s.split(None, 1)[0].upper() for s in self.statements)

    def __str__(self) -> str:
        lines = [f"{self.count} statements, {self.commits} commits, {self.rollbacks} rollbacks"]
        lines += [f"  {s[:160]}" for s in self.statements]
        return "\n".join(lines)


_NOT_COUNTED = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


@contextmanager
def count_statements(store: Store) -> Iterator[StatementLog]:
    """`with count_statements(store) as log: ...` then assert on `log.count`; print `log` to see them.

    The send limits' own transactions (send_slots, on MariaDB) are left out: they belong to each Feishu call,
    not to the work measured, and their number depends on timing (releases are written together)."""
    log = StatementLog()
    engine = store.engine.sync_engine
    throttling: set[int] = set()  # connections whose transaction is a send-limit one

    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if "send_slots" in text:
            throttling.add(id(conn))
            return
        if text.upper().startswith(_NOT_COUNTED) or text.upper() in ("SELECT 1", "SELECT 1 AS ANON_1"):
            return
        log.statements.append(text)

    # Transactions begun while the counter was open: one begun before (a send limit's release being written
    # when the work started) is not the work's, whatever it commits.
    began: set[int] = set()

    def _begin(conn: Any) -> None:
        began.add(id(conn))

    def _commit(conn: Any) -> None:
        if id(conn) not in began:
            return
        began.discard(id(conn))
        if id(conn) in throttling:
            throttling.discard(id(conn))
            return
        log.commits += 1

    def _rollback(conn: Any) -> None:
        if id(conn) not in began:
            return
        began.discard(id(conn))
        if id(conn) in throttling:
            throttling.discard(id(conn))
            return
        log.rollbacks += 1

    event.listen(engine, "before_cursor_execute", _before)
    event.listen(engine, "begin", _begin)
    event.listen(engine, "commit", _commit)
    event.listen(engine, "rollback", _rollback)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", _before)
        event.remove(engine, "begin", _begin)
        event.remove(engine, "commit", _commit)
        event.remove(engine, "rollback", _rollback)
