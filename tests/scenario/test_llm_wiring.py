"""The configured model end to end: settings -> wiring -> pipeline -> preview -> the card the user gets.
The model (a fake OpenAI-compatible server on loopback) picks the second option and explains it."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.settings import load_settings
from app.wiring import build_components, make_worker
from bot.sender import ConsoleSender
from scheduler.services.jobs import sync_job
from store.models import Preview, Task, User
from tests.fakes.fake_llm import FakeLLM, FakeReply, answer, offered_ids

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
EXPLANATION = "第二个方案避开了午饭时间，改动最小。"


def second_option(body: dict[str, Any]) -> FakeReply:
    ids = offered_ids(body)
    return answer(ids[1], EXPLANATION, "已为你找好时间。")


@pytest.mark.parametrize("reject_schema", [False, True], ids=["json_schema", "json_mode"])
async def test_the_models_choice_and_words_reach_the_card(sqlite_url: str, reject_schema: bool) -> None:
    out = io.StringIO()
    with FakeLLM(reject_json_schema=reject_schema) as fake:
        fake.responder = second_option
        settings = load_settings(
            database_url=sqlite_url,
            llm_base_url=fake.base_url,
            llm_model=fake.model,
            llm_api_key="test-key",
            llm_budget_seconds=5,
        )
        components = build_components(settings, sender=ConsoleSender(out))
        try:
            async with components.store.uow() as uow:
                user = uow.users.add(
                    User(
                        open_id="ou_llm", name="Lin", timezone="Asia/Shanghai", created_at=NOW, updated_at=NOW
                    )
                )
                await uow.flush()
                task = uow.tasks.add(
                    Task(
                        user_id=user.id,
                        title="实验报告",
                        quadrant=2,
                        estimate_minutes=60,
                        deadline=NOW + timedelta(hours=10),
                        urgency_threshold_at=NOW - timedelta(minutes=5),
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                await sync_job(uow, task, NOW)
                await uow.commit()
            worker = make_worker(components, lambda: NOW)
            await worker.run_once(NOW)
            async with components.store.uow(readonly=True) as uow:
                (preview,) = (await uow.session.scalars(sa.select(Preview))).all()
                record = (
                    preview.choice_source,
                    preview.fallback_reason,
                    preview.llm_model,
                    preview.prompt_tokens,
                    preview.chosen_candidate_id,
                    [c["id"] for c in preview.candidates],
                    preview.explanation,
                )
        finally:
            await components.aclose()
        formats = [(r.get("response_format") or {}).get("type") for r in fake.requests]

    source, reason, model, tokens, chosen, ids, explanation = record
    assert (source, reason, model) == ("llm", None, fake.model)
    assert (tokens or 0) > 0
    assert chosen == ids[1]  # the model's pick, not the ranker's
    assert explanation == EXPLANATION
    card = out.getvalue()
    assert EXPLANATION in card
    # the model's pick is the recommended option on the card
    recommended = re.search(r"\[\*[^\]]*\*\] -> k=apply p=\w+ c=(\w+)", card)
    assert recommended is not None
    assert recommended.group(1) == ids[1]
    if reject_schema:
        assert formats == ["json_schema", "json_object"]  # refused once, then JSON mode
    else:
        assert formats == ["json_schema"]
