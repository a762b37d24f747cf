"""Cards: snapshots, structure, escaping, size limit, button payloads (with a fuzz), text rendering."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import (
    MAX_CARD_BYTES,
    AppliedCard,
    ButtonPayload,
    CardChoice,
    CardError,
    CardErrorCode,
    CardOption,
    ErrorCard,
    ExpiredCard,
    Kind,
    PayloadError,
    PayloadErrorCode,
    build_applied_card,
    build_error_card,
    build_expired_card,
    build_preview_card,
    card_size,
    check_card_size,
    escape_md,
    pack,
    render_card_text,
    toast,
    unpack,
)
from tests.unit.bot import gen_docs_cards as samples

UPDATE = os.environ.get("SMARTFLOW_UPDATE_SNAPSHOTS") == "1"
CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")


def walk(node: Any) -> list[dict[str, Any]]:
    """Every element dict in a card body, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "tag" in node:
            found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for item in node:
            found += walk(item)
    return found


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in walk(card["body"]) if e["tag"] == "button"]


def value_of(button: dict[str, Any]) -> Any:
    return button["behaviors"][0]["value"]


def markdown_texts(card: dict[str, Any]) -> list[str]:
    return [e["content"] for e in walk(card["body"]) if e["tag"] == "markdown"]


# --------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("name", sorted(samples.samples()))
def test_snapshot(name: str) -> None:
    text = samples.dump(samples.samples()[name]())
    path = samples.SNAPSHOT_DIR / f"{name}.json"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}; run with SMARTFLOW_UPDATE_SNAPSHOTS=1"
    assert path.read_text(encoding="utf-8") == text, f"{name} changed; SMARTFLOW_UPDATE_SNAPSHOTS=1 to accept"


@pytest.mark.parametrize("name", samples.DOC_NAMES)
def test_docs_cards_match(name: str) -> None:
    text = samples.dump(samples.samples()[name]())
    path = samples.DOCS_DIR / f"{name}.json"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"docs/cards/{name}.json is stale; run gen_docs_cards"


@pytest.mark.parametrize("name", sorted(samples.samples()))
def test_every_card_is_schema_2_shared_and_small(name: str) -> None:
    card = samples.samples()[name]()
    assert card["schema"] == "2.0"
    assert card["config"]["update_multi"] is True
    assert card["header"]["title"]["tag"] == "plain_text"
    assert card_size(card) <= MAX_CARD_BYTES
    ids = [e["element_id"] for e in walk(card["body"]) if "element_id" in e]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,19}", i) for i in ids)
    for b in buttons(card):
        value = value_of(b)
        assert isinstance(value, dict)  # a string value makes the SDK answer 500
        assert unpack(value).pack() == value


# --------------------------------------------------------------------------- preview structure


def test_preview_options_chosen_first_each_with_apply() -> None:
    view = samples.PREVIEW_ZH
    card = build_preview_card(view)
    applies = [b for b in buttons(card) if value_of(b)["k"] == "apply"]
    assert [value_of(b)["c"] for b in applies] == ["c_makeup_1a2b", "c_push_3c4d", "c_extend_5e6f"]
    assert applies[0]["type"] == "primary_filled"
    assert all(b["type"] == "default" for b in applies[1:])
    assert all(
        value_of(b) == {"v": 1, "k": "apply", "p": "pv_8f3a2c", "c": value_of(b)["c"]} for b in applies
    )
    ignores = [b for b in buttons(card) if value_of(b)["k"] == "ignore"]
    assert [value_of(b) for b in ignores] == [{"v": 1, "k": "ignore", "p": "pv_8f3a2c"}]
    text = render_card_text(card)
    assert text.index("补做时段") < text.index("顺延后续安排") < text.index("延长今天的结束时间")
    assert "推荐" in text
    assert "11-30 15:00" in text
    assert "调整前" in text
    assert "调整后" in text


@pytest.mark.parametrize(("risk", "template"), [("low", "green"), ("medium", "orange"), ("high", "red")])
def test_header_colour_follows_risk(risk: str, template: str) -> None:
    card = build_preview_card(replace(samples.PREVIEW_ZH, risk_level=risk))
    assert card["header"]["template"] == template


def test_ask_user_choices_are_buttons() -> None:
    card = build_preview_card(samples.ASK_USER)
    assert card["header"]["template"] == "blue"
    chooses = [value_of(b) for b in buttons(card) if value_of(b)["k"] == "choose"]
    assert chooses == [
        {"v": 1, "k": "choose", "p": "pv_ask_5b21", "c": "blk_101"},
        {"v": 1, "k": "choose", "p": "pv_ask_5b21", "c": "blk_102"},
    ]
    assert [b["text"]["content"] for b in buttons(card)][:2] == [
        "13:00-14:00 实验报告",
        "14:00-15:00 高数作业",
    ]


def test_ask_user_card_says_its_question_once() -> None:
    """The fallback explanation of a question is the question itself: it is shown once, as the question."""
    question = "哪一段没做完？ 文献阅读 11:50–12:10；六级单词 11:30–11:50"
    card = build_preview_card(replace(samples.ASK_USER, explanation=question + " ", question=question))
    texts = markdown_texts(card)
    assert sum("哪一段没做完" in text for text in texts) == 1
    assert f"**{escape_md(question)}**" in texts
    # a different explanation is still shown above the question
    both = markdown_texts(build_preview_card(samples.ASK_USER))
    assert samples.ASK_USER.explanation in both
    assert f"**{samples.ASK_USER.question}**" in both


def test_notify_only_is_an_honest_warning() -> None:
    card = samples.samples()["notify_only"]()
    assert card["header"]["template"] == "red"
    assert not [b for b in buttons(card) if value_of(b)["k"] == "apply"]
    assert "赶不上截止时间" in render_card_text(card)
    assert "不会改动" in render_card_text(card)
    via_preview = build_preview_card(
        replace(samples.PREVIEW_ZH, decision="notify_only", options=(), chosen_id=None, risk_level="medium")
    )
    assert via_preview["header"]["template"] == "orange"


def test_applied_card_has_undo_only_while_possible() -> None:
    view = AppliedCard(
        samples.PREVIEW_ZH, "c_makeup_1a2b", ("新增 16:00-16:30 实验报告（补做）",), samples.UNDO_UNTIL
    )
    card = build_applied_card(view)
    assert [value_of(b) for b in buttons(card)] == [{"v": 1, "k": "undo", "p": "pv_8f3a2c"}]
    assert "12-01 14:10" in render_card_text(card)
    assert buttons(build_applied_card(replace(view, undo_until=None))) == []


def test_expired_and_error_cards_say_nothing_changed() -> None:
    expired = render_card_text(build_expired_card(ExpiredCard(samples.PREVIEW_EN)))
    assert "nothing changed" in expired
    assert "11-30 15:00" in expired
    error = build_error_card(ErrorCard("en", "base_version_changed"))
    assert error["header"]["template"] == "red"
    assert "nothing was changed" in render_card_text(error)
    custom = render_card_text(build_error_card(ErrorCard("zh", "whatever_new", message="自定义 *说明*")))
    assert "自定义 *说明*" in custom
    assert "whatever_new" in custom


@pytest.mark.parametrize("name", ["preview_en", "applied_en", "expired_en", "error_en"])
def test_english_cards_have_no_chinese(name: str) -> None:
    # the sample's user data is ASCII, so any CJK would be an untranslated label
    assert not CJK.search(json.dumps(samples.samples()[name](), ensure_ascii=False))


def test_toasts() -> None:
    assert toast("applied", "zh") == {"type": "success", "content": "已应用"}
    assert toast("applied", "en") == {"type": "success", "content": "Applied"}
    assert toast("not_owner", "en")["type"] == "warning"
    assert toast("expired", "en") == {
        "type": "error",
        "content": "This suggestion expired; your schedule was not changed.",
    }
    assert toast("brand_new_code", "zh")["content"] == "操作没有成功（brand_new_code）。"


# --------------------------------------------------------------------------- escaping and size


def test_user_text_cannot_inject_formatting_or_mentions() -> None:
    hostile = "Essay *bold* [x](https://evil) <at id=all></at> `code` _i_ ~~s~~ <font color='red'>r</font>"
    view = replace(
        samples.PREVIEW_EN,
        title=hostile,
        explanation="# heading\n- item\n> quote\n" + hostile,
        options=tuple(
            replace(o, summary=hostile, before=hostile, after="---\n" + hostile)
            for o in samples.PREVIEW_EN.options
        ),
    )
    card = build_preview_card(view)
    for content in markdown_texts(card):
        assert "<at" not in content
        assert "](" not in content
        assert "<font color='red'>" not in content
        stripped = re.sub(r"</?(?:text_tag|font)[^>]*>", "", content).replace("**", "")  # our own markup
        assert "*" not in stripped
        assert "`" not in stripped
        assert "_" not in stripped
        assert "~" not in stripped
        assert not re.search(r"^\s*(#|-|>)", content, re.M)
    assert hostile in render_card_text(card)  # shown literally


@given(st.text(max_size=200))
def test_escape_md_round_trips_and_neutralises(text: str) -> None:
    escaped = escape_md(text)
    assert html.unescape(escaped) == text
    assert not set(escaped) & set("<>*_~[]`$|\\\r")
    assert not re.search(r"^(?:[ \t]|[#+\-=>]|\d+[.)])", escaped, re.M)  # no code block, list, quote, heading


def test_long_titles_are_truncated() -> None:
    title = "很长的标题" * 60
    card = build_preview_card(replace(samples.PREVIEW_ZH, title=title))
    header = card["header"]["title"]["content"]
    assert header.endswith("…")
    assert len(header) < 60


def test_worst_case_card_stays_under_the_limit() -> None:
    huge = "*<&[" * 5000 + "汉" * 5000
    lines = "\n".join(["*" * 200] * 200)
    options = tuple(CardOption(f"c{i}", huge, huge, lines, lines, "high", "rush_merge") for i in range(3))
    view = replace(
        samples.PREVIEW_ZH, title=huge, explanation=huge, options=options, chosen_id="c0", summary=huge
    )
    card = build_preview_card(view)
    assert card_size(card) <= MAX_CARD_BYTES
    ask = replace(
        samples.ASK_USER,
        title=huge,
        explanation=huge,
        question=huge,
        choices=tuple(CardChoice(f"b{i}", huge) for i in range(10)),
    )
    assert card_size(build_preview_card(ask)) <= MAX_CARD_BYTES
    changes = tuple([huge] * 100)
    applied = build_applied_card(AppliedCard(view, "c0", changes, samples.UNDO_UNTIL))
    assert card_size(applied) <= MAX_CARD_BYTES


def test_check_card_size_raises_a_clear_error() -> None:
    big = {
        "schema": "2.0",
        "body": {"elements": [{"tag": "markdown", "content": "x" * (MAX_CARD_BYTES + 1)}]},
    }
    with pytest.raises(CardError, match="over the 30720-byte limit") as info:
        check_card_size(big)
    assert info.value.code == CardErrorCode.CARD_TOO_LARGE
    small = {"schema": "2.0"}
    assert check_card_size(small) is small


def test_card_size_counts_utf8_bytes() -> None:
    assert card_size({"a": "汉"}) == len('{"a":"汉"}'.encode())


@pytest.mark.parametrize(
    "change",
    [
        {"decision": "propose", "options": ()},
        {"chosen_id": "nope"},
        {"options": (*samples.PREVIEW_ZH.options, replace(samples.PREVIEW_ZH.options[0], candidate_id="c4"))},
        {"options": (samples.PREVIEW_ZH.options[0], samples.PREVIEW_ZH.options[0])},
        {"locale": "fr"},
        {"timezone": "Mars/Base"},
        {"expires_at": datetime(2026, 11, 30, 15, 0)},
        {"decision": "maybe"},
        {"risk_level": "extreme"},
        {"decision": "ask_user", "choices": ()},
        {"preview_id": ""},
    ],
)
def test_invalid_views_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(CardError) as info:
        replace(samples.PREVIEW_ZH, **change)
    assert info.value.code == CardErrorCode.INVALID_VIEW


# --------------------------------------------------------------------------- button payloads


def test_pack_unpack_round_trip() -> None:
    value = pack(Kind.APPLY, "pv_1", "c_2")
    assert value == {"v": 1, "k": "apply", "p": "pv_1", "c": "c_2"}
    assert unpack(value) == ButtonPayload(1, Kind.APPLY, "pv_1", "c_2")
    assert unpack(json.loads(json.dumps(pack("undo", "42")))) == ButtonPayload(1, Kind.UNDO, "42", None)


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ('{"v":1,"k":"apply","p":"x","c":"y"}', PayloadErrorCode.NOT_AN_OBJECT),
        (None, PayloadErrorCode.NOT_AN_OBJECT),
        ([1, 2], PayloadErrorCode.NOT_AN_OBJECT),
        ({"v": 1, "k": "apply", "p": "x"}, PayloadErrorCode.MISSING_KEY),
        ({"k": "ignore", "p": "x"}, PayloadErrorCode.MISSING_KEY),
        ({"v": 1, "p": "x"}, PayloadErrorCode.MISSING_KEY),
        ({"v": 1, "k": "ignore"}, PayloadErrorCode.MISSING_KEY),
        ({"v": 2, "k": "ignore", "p": "x"}, PayloadErrorCode.BAD_VERSION),
        ({"v": "1", "k": "ignore", "p": "x"}, PayloadErrorCode.BAD_VERSION),
        ({"v": True, "k": "ignore", "p": "x"}, PayloadErrorCode.BAD_VERSION),
        ({"v": 1.0, "k": "ignore", "p": "x"}, PayloadErrorCode.BAD_VERSION),
        ({"v": 10**5000, "k": "ignore", "p": "x"}, PayloadErrorCode.BAD_VERSION),
        ({"v": 1, "k": "delete", "p": "x"}, PayloadErrorCode.UNKNOWN_KIND),
        ({"v": 1, "k": ["apply"], "p": "x"}, PayloadErrorCode.UNKNOWN_KIND),
        ({"v": 1, "k": "APPLY", "p": "x", "c": "y"}, PayloadErrorCode.UNKNOWN_KIND),
        ({"v": 1, "k": "ignore", "p": 42}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "ignore", "p": ""}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "ignore", "p": "x" * 65}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "ignore", "p": "a b"}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "ignore", "p": "../etc"}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "apply", "p": "x", "c": None}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "apply", "p": "x", "c": {"a": 1}}, PayloadErrorCode.BAD_ID),
        ({"v": 1, "k": "ignore", "p": "x", "c": "y"}, PayloadErrorCode.UNEXPECTED_CHOICE),
        ({"v": 1, "k": "ignore", "p": "x", "act": "apply"}, PayloadErrorCode.UNKNOWN_KEY),
        ({"v": 1, "k": "ignore", "p": "x", 1: 2}, PayloadErrorCode.UNKNOWN_KEY),
        ({str(i): i for i in range(10_000)}, PayloadErrorCode.UNKNOWN_KEY),
    ],
)
def test_unpack_rejects_malformed(obj: object, code: PayloadErrorCode) -> None:
    with pytest.raises(PayloadError) as info:
        unpack(obj)
    assert info.value.code == code
    assert len(str(info.value)) < 200  # never echoes a huge input


def test_pack_refuses_bad_ids() -> None:
    with pytest.raises(PayloadError):
        pack(Kind.APPLY, "pv_1")  # apply needs a candidate
    with pytest.raises(PayloadError):
        pack(Kind.IGNORE, "has space")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=20,
)
valid_payloads = st.builds(
    lambda k, p, c: pack(k, p, c if Kind(k).needs_choice else None),
    st.sampled_from([k.value for k in Kind]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_]{0,20}", fullmatch=True),
)


@st.composite
def mutated(draw: st.DrawFn) -> object:
    value = dict(draw(valid_payloads))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "drop", "add"]))
        key = draw(st.sampled_from(["v", "k", "p", "c", "x", ""]))
        if op == "drop":
            value.pop(key, None)
        else:
            value[key] = draw(json_values)
    return value


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, valid_payloads, mutated(), st.binary(max_size=40)))
def test_unpack_fuzz_raises_only_payload_error(obj: object) -> None:
    try:
        payload = unpack(obj)
    except PayloadError:
        return
    assert payload.v == 1
    assert isinstance(payload.k, Kind)
    assert unpack(payload.pack()) == payload
    assert isinstance(obj, dict)
    assert payload.pack() == {k: v for k, v in obj.items() if v is not None}


def test_render_card_text_shows_everything_a_user_sees() -> None:
    text = render_card_text(build_preview_card(samples.PREVIEW_EN))
    assert "Schedule suggestion: Essay *draft* [v2] <at id=all></at>" in text
    assert "Apply recommended" in text
    assert "Ignore" in text
    assert "k=apply p=pv_41d7e0 c=c_place_9a0b" in text
    assert "&#" not in text  # entities decoded for the terminal
    assert render_card_text({}).count("=") > 0  # any dict renders without raising


def test_the_working_card_names_the_task_and_has_no_buttons() -> None:
    from bot.cards import build_working_card

    card = build_working_card("en", "Lab report")
    assert card["header"]["title"]["content"] == "Working on it: Lab report"
    assert "button" not in json.dumps(card)
    assert build_working_card("zh")["header"]["title"]["content"] == "正在处理"
