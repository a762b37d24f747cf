"""The operator guide names exactly the settings there are (a documented variable the code ignores, or a
setting the guide calls missing, misleads whoever deploys the bot)."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operator-guide.md"


def test_every_setting_is_documented_and_every_documented_variable_is_a_setting() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    documented = {
        name.removeprefix("SMARTFLOW_").lower() for name in re.findall(r"SMARTFLOW_[A-Z0-9_]+", text)
    }
    fields = set(Settings.model_fields)
    assert documented - fields == set()
    assert fields - documented == set()


def test_the_bot_open_id_is_described_as_the_setting_it_is() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert "SMARTFLOW_FEISHU_BOT_OPEN_ID" in text
    assert "Not a setting yet" not in text
    assert "`feishu_bot_open_id`" not in text  # the variable's name, not the Python field's
