"""The capture form card: a schema 2.0 form whose fields have unique names and whose submit button sends an
object value (never a string), prefilled from the draft."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.cards import unpack
from bot.cards.capture import build_capture_card


def test_the_form_is_prefilled_and_submits_an_object_value() -> None:
    due = datetime(2026, 12, 1, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    card = build_capture_card(
        "fabc", "交实验报告", 100, due, True, "Asia/Shanghai", "zh", alternative="/add x 1"
    )
    assert card["schema"] == "2.0"
    (form,) = [e for e in card["body"]["elements"] if e.get("tag") == "form"]
    names = [e["name"] for e in form["elements"] if "name" in e]
    assert len(names) == len(set(names))
    fields = {e["name"]: e for e in form["elements"] if "name" in e}
    assert fields["title"]["default_value"] == "交实验报告"
    assert "100" in [o["value"] for o in fields["estimate"]["options"]]  # an estimate off the list is kept
    assert fields["estimate"]["initial_option"] == "100"
    assert fields["deadline"]["initial_datetime"] == "2026-12-01 15:00"
    assert fields["important"]["checked"] is True
    submit = fields["submit"]
    assert submit["form_action_type"] == "submit"
    payload = unpack(submit["behaviors"][0]["value"])
    assert (payload.k.value, payload.p) == ("capture", "fabc")


def test_a_draft_without_estimate_or_deadline_leaves_them_unset() -> None:
    card = build_capture_card("fabc", "slides", None, None, False, "Asia/Shanghai", "en")
    (form,) = [e for e in card["body"]["elements"] if e.get("tag") == "form"]
    fields = {e["name"]: e for e in form["elements"] if "name" in e}
    assert "initial_option" not in fields["estimate"]
    assert "initial_datetime" not in fields["deadline"]
