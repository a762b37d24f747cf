"""The dry-run listing: readable scores and a text for every code, from planning scenarios (no database)."""

from __future__ import annotations

import re

from scheduler.planning import plan
from scheduler.services.dryrun import DryRunReport, dry_run_json, dry_run_text
from tests.unit.planning.scenario import build_context, load_golden


def _report(name: str) -> DryRunReport:
    ctx = build_context(dict(load_golden())[name])
    return DryRunReport("ou_t", "Tester", ctx, plan(ctx), None, None, "v")


def test_scores_are_printed_in_full_not_in_scientific_notation() -> None:
    report = _report("12_day_end_extend")  # an extend_day candidate: disruption tier 2, -2 x 10^8
    text = dry_run_text(report)
    scores = re.findall(r"^ +score (\w+) +(\S+)  ", text, re.MULTILINE)
    assert scores
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", value) for _, value in scores), scores
    values = {float(v) for _, v in scores}
    assert any(v <= -200_000_000 for v in values)
    assert "e+" not in text


def test_every_text_of_every_scenario_is_a_sentence_not_a_code() -> None:
    for name, _ in load_golden():
        d = dry_run_json(_report(name))
        for c in d["candidates"]:
            for item in (*c["reasons"], *c["risks"], *c["score"]):
                code = item.get("code", item.get("reason"))
                assert item["text"] != code, (name, code)
                assert "_" not in item["text"], (name, item["text"])
        for issue in d["issues"]:
            assert issue["text"] != issue["code"], (name, issue["code"])
