"""A failing statement's logged error names the statement but not its parameters (open_ids, texts)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from store.engine import create_engine

log = logging.getLogger(__name__)
SECRET = "ou_4f1c9e_not_to_be_logged"


async def test_a_failing_statement_logs_no_parameter_values(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(db_url)
    try:
        with caplog.at_level(logging.ERROR):
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT * FROM no_such_table WHERE open_id = :o"), {"o": SECRET})
            except Exception:
                log.exception("statement failed")
    finally:
        await engine.dispose()

    assert "no_such_table" in caplog.text  # the statement is there, so this is the error we meant
    assert SECRET not in caplog.text
