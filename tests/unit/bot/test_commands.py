"""Message parsing: slash commands, admin commands, zh/en "unfinished" feedback, time text."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.parse import (
    Add,
    Admin,
    AdminSub,
    Done,
    Help,
    ParseError,
    ParseErrorCode,
    Prefs,
    Tasks,
    TimeRange,
    Today,
    Unfinished,
    Unknown,
    parse_message,
    parse_time_text,
)
from bot.parse.model import Reopen
from bot.texts import parse_error_text

SH = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-30 10:00 in Shanghai
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", Help()),
        ("/HELP", Help()),
        ("  /Help  extra words ", Help()),
        ("@_user_1 /today", Today()),
        ("/tasks", Tasks()),
        ("／ｔａｓｋｓ", Tasks()),  # full-width input from a CJK keyboard
        ("help", Help()),
        ("帮助", Help()),
        ("/add 实验报告 90", Add("实验报告", 90)),
        ("/add 实验报告 90 by 明天18:00 !", Add("实验报告", 90, "明天18:00", True)),
        ("/add 实验报告 90 by 明天18:00！", Add("实验报告", 90, "明天18:00", True)),
        ("/add Read chapter 3 of SICP 45", Add("Read chapter 3 of SICP", 45)),
        ("/add CS 101 homework 60 by fri 18:00", Add("CS 101 homework", 60, "fri 18:00")),
        ("/add stand by me essay 60 by 2026-12-01T18:00", Add("stand by me essay", 60, "2026-12-01T18:00")),
        ("/ADD report 1.5h", Add("report", 90)),
        ("/add report 30min !", Add("report", 30, None, True)),
        ("/add 写 *粗体* [链接] 25", Add("写 *粗体* [链接]", 25)),
        ("/add report 5", Add("report", 5)),
        ("/add report 480", Add("report", 480)),
        ("/done 实验报告", Done("实验报告")),
        ("/done Essay draft", Done("Essay draft")),
        ("/done 写周报 #2", Done("写周报", 2, "写周报 #2")),
        ("/done 写周报＃2", Done("写周报", 2, "写周报#2")),
        ("/undone 写周报", Reopen("写周报")),
        ("/undone fix bug #3", Reopen("fix bug", 3, "fix bug #3")),
        ("/unfinished", Unfinished(None, None, "")),
        ("/unfinished 30", Unfinished(None, 30, "30")),
        ("/unfinished report", Unfinished("report", None, "report")),
        ("/unfinished report 30", Unfinished("report", 30, "report 30")),
        ("/unfinished 实验报告 还差半小时", Unfinished("实验报告", 30, "实验报告 还差半小时")),
        ("/foo bar", Unknown("/foo bar")),
        ("hello there", Unknown("hello there")),
        ("今天天气不错", Unknown("今天天气不错")),
        ("@_user_1", Unknown("")),
        ("", Unknown("")),
    ],
)
def test_commands(text: str, expected: object) -> None:
    assert parse_message(text) == expected


@pytest.mark.parametrize(
    ("text", "task_ref", "minutes"),
    [
        ("没做完", None, None),
        ("@_user_1 没做完", None, None),
        ("刚才那个没做完", None, None),
        ("报告还差30分钟", "报告", 30),
        ("实验报告没写完，还要40分钟", "实验报告", 40),
        ("还差半小时", None, 30),
        ("高数作业还没写完", "高数作业", None),
        ("我的实验报告没做完", "实验报告", None),
        ("报告还差30", "报告", 30),
        ("还需要一个小时", None, 60),
        ("还要1小时", None, 60),
        ("论文还差1小时30分钟", "论文", 90),
        ("英语阅读做不完了，还剩一个半小时", "英语阅读", 90),
        ("还差二十分钟", None, 20),
        ("unfinished", None, None),
        ("Unfinished: Essay draft", "Essay draft", None),
        ("didn't finish the report, 30 min left", "report", 30),
        ("didn’t finish the report, 30 min left", "report", 30),  # curly apostrophe from phones
        ("not done with report, need 45 more minutes", "report", 45),
        ("I didn't finish", None, None),
        ("1.5 hours left on essay", "essay", 90),
        ("haven't finished my essay yet, 2 hours left", "essay", 120),
        ("the report is unfinished", "report", None),
        ("still need 30 minutes for the report", "report", 30),
        ("half an hour left", None, 30),
        ("an hour and a half left on the slides", "slides", 90),
    ],
)
def test_unfinished_feedback(text: str, task_ref: str | None, minutes: int | None) -> None:
    command = parse_message(text)
    assert isinstance(command, Unfinished)
    assert (command.task_ref, command.minutes) == (task_ref, minutes)
    assert command.text  # the user's words travel on, for the prompt


@pytest.mark.parametrize(
    "text", ["hello", "I'm done", "我做完了", "明天见", "I have a meeting at 3", "thanks!"]
)
def test_not_feedback(text: str) -> None:
    assert not isinstance(parse_message(text), Unfinished)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/prefs", Prefs()),
        ("/prefs day 08:00-22:30", Prefs(day=TimeRange(time(8), time(22, 30)))),
        ("/prefs day 8:00 - 24:00", Prefs(day=TimeRange(time(8), time(0)))),
        ("/prefs quiet 23:00-07:00", Prefs(quiet=TimeRange(time(23), time(7)))),
        ("/prefs quiet off", Prefs(quiet_off=True)),
        ("/prefs lang en", Prefs(lang="en")),
        ("/prefs lang=中文", Prefs(lang="zh")),
        ("/prefs tz asia/shanghai cap 5", Prefs(timezone="Asia/Shanghai", daily_cap=5)),
        (
            "/prefs day=07:30-23:00 quiet=22:00-06:30 lang=EN",
            Prefs(day=TimeRange(time(7, 30), time(23)), quiet=TimeRange(time(22), time(6, 30)), lang="en"),
        ),
    ],
)
def test_prefs(text: str, expected: Prefs) -> None:
    assert parse_message(text) == expected


def test_prefs_query() -> None:
    prefs = parse_message("/prefs")
    assert isinstance(prefs, Prefs)
    assert prefs.is_query
    assert not Prefs(lang="en").is_query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/admin trigger ou_abc 实验报告",
            Admin(AdminSub.TRIGGER, user="ou_abc", task="实验报告", args=("trigger", "ou_abc", "实验报告")),
        ),
        (
            "/admin trigger ou_abc lab report --now 2026-11-30 09:00",
            Admin(
                AdminSub.TRIGGER,
                user="ou_abc",
                task="lab report",
                now_text="2026-11-30 09:00",
                args=("trigger", "ou_abc", "lab", "report", "--now", "2026-11-30", "09:00"),
            ),
        ),
        (
            "/Admin DryRun ou_x essay —now tomorrow 9:00",  # a phone turned -- into an em dash
            Admin(
                AdminSub.DRYRUN,
                user="ou_x",
                task="essay",
                now_text="tomorrow 9:00",
                args=("DryRun", "ou_x", "essay", "--now", "tomorrow", "9:00"),
            ),
        ),
        (
            "/admin dry-run ou_x t --now=18:00",
            Admin(AdminSub.DRYRUN, "ou_x", "t", "18:00", args=("dry-run", "ou_x", "t", "--now=18:00")),
        ),
        (
            '/admin dryrun "Bob Smith" Q1 planning',  # a name with a space, quoted
            Admin(
                AdminSub.DRYRUN,
                user="Bob Smith",
                task="Q1 planning",
                args=("dryrun", "Bob Smith", "Q1", "planning"),
            ),
        ),
        (
            "/admin trigger “Bob Smith” 「Q1 planning doc」",  # a phone's quotes, and corner brackets
            Admin(
                AdminSub.TRIGGER,
                user="Bob Smith",
                task="Q1 planning doc",
                args=("trigger", "Bob Smith", "Q1 planning doc"),
            ),
        ),
        ("/admin jobs", Admin(AdminSub.JOBS, args=("jobs",))),
        ("/admin notifications", Admin(AdminSub.NOTIFICATIONS, args=("notifications",))),
        (
            "/admin notifications --dead",
            Admin(AdminSub.NOTIFICATIONS, dead=True, args=("notifications", "--dead")),
        ),
        ("/admin retry 42", Admin(AdminSub.RETRY, notification_id="42", args=("retry", "42"))),
        ("/admin stats", Admin(AdminSub.STATS, args=("stats",))),
    ],
)
def test_admin(text: str, expected: Admin) -> None:
    assert parse_message(text) == expected


def test_admin_keeps_mentioned_user_when_asked() -> None:
    command = parse_message("@_user_1 /admin trigger @_user_2 report", mentions_stripped=False)
    assert isinstance(command, Admin)
    assert command.user == "@_user_2"
    assert command.task == "report"


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("/add report", ParseErrorCode.MISSING_MINUTES, "minutes"),
        ("/add 60", ParseErrorCode.EMPTY_TITLE, "title"),
        ("/add report 4", ParseErrorCode.MINUTES_OUT_OF_RANGE, "minutes must be between 5 and 480"),
        ("/add report 481", ParseErrorCode.MINUTES_OUT_OF_RANGE, "minutes must be between 5 and 480"),
        ("/add report 9h", ParseErrorCode.MINUTES_OUT_OF_RANGE, "got 540"),
        ("/add " + "x" * 201 + " 30", ParseErrorCode.TITLE_TOO_LONG, "200"),
        ("/add report 30 by someday", ParseErrorCode.BAD_TIME, "someday"),
        ("/add report 30 by fri", ParseErrorCode.MISSING_TIME_OF_DAY, "fri"),
        ("/done", ParseErrorCode.MISSING_TASK, "which task"),
        ("/done #2", ParseErrorCode.MISSING_TASK, "which task"),
        ("/undone", ParseErrorCode.MISSING_TASK, "/undone <task>"),
        ("/add 写周报 30 by", ParseErrorCode.MISSING_DEADLINE, "the time after 'by' is missing"),
        ("/add report 30 due !", ParseErrorCode.MISSING_DEADLINE, "the time after 'due' is missing"),
        ("/add 写周报 -30", ParseErrorCode.MINUTES_OUT_OF_RANGE, "between 5 and 480, got -30"),
        ("/add 写周报 -30min", ParseErrorCode.MINUTES_OUT_OF_RANGE, "got -30"),
        ("/add 写周报 1000000", ParseErrorCode.MINUTES_OUT_OF_RANGE, "between 5 and 480, got 1000000"),
        ("/add 写周报 -30 by 18:00", ParseErrorCode.MINUTES_OUT_OF_RANGE, "got -30"),
        ("/add 写周报 " + "9" * 5000, ParseErrorCode.MINUTES_OUT_OF_RANGE, "between 5 and 480"),
        ("/unfinished report 2", ParseErrorCode.MINUTES_OUT_OF_RANGE, "between 5 and 480"),
        ("报告还差1000分钟", ParseErrorCode.MINUTES_OUT_OF_RANGE, "got 1000"),
        ("/prefs day", ParseErrorCode.BAD_PREFS, "needs a value"),
        ("/prefs day 22:00-08:00", ParseErrorCode.BAD_RANGE, "end after it starts"),
        ("/prefs day 8-22", ParseErrorCode.BAD_RANGE, "08:00-22:30"),
        ("/prefs quiet 23:00-23:00", ParseErrorCode.BAD_RANGE, "quiet"),
        ("/prefs day 25:00-26:00", ParseErrorCode.BAD_RANGE, "not a valid"),
        ("/prefs colour blue", ParseErrorCode.UNKNOWN_PREF, "colour"),
        ("/prefs lang fr", ParseErrorCode.BAD_LANG, "fr"),
        ("/prefs tz Mars/Base", ParseErrorCode.BAD_TIMEZONE, "Mars/Base"),
        ("/prefs cap 0", ParseErrorCode.BAD_CAP, "1 to 100"),
        ("/admin", ParseErrorCode.MISSING_ADMIN_COMMAND, "/admin trigger"),
        ("/admin reboot", ParseErrorCode.UNKNOWN_ADMIN_COMMAND, "reboot"),
        ("/admin trigger ou_abc", ParseErrorCode.MISSING_ARGUMENT, "user and a task"),
        ("/admin trigger u t --now", ParseErrorCode.MISSING_ARGUMENT, "--now"),
        ("/admin trigger u t --now yesterday-ish", ParseErrorCode.BAD_TIME, "yesterday-ish"),
        ("/admin jobs all", ParseErrorCode.UNEXPECTED_ARGUMENT, "all"),
        ("/admin jobs --now 9:00", ParseErrorCode.UNEXPECTED_ARGUMENT, "--now"),
        ("/admin stats --dead", ParseErrorCode.UNEXPECTED_ARGUMENT, "--dead"),
        ("/admin retry", ParseErrorCode.MISSING_ARGUMENT, "notification id"),
        ("/admin retry 1 2", ParseErrorCode.UNEXPECTED_ARGUMENT, "exactly one"),
    ],
)
def test_parse_errors(text: str, code: ParseErrorCode, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(text)
    assert info.value.code == code
    assert fragment in info.value.message


def test_parse_error_names_command() -> None:
    with pytest.raises(ParseError) as info:
        parse_message("/admin reboot")
    assert info.value.command == "admin"  # the handler answers non-admins "not allowed", not usage


def test_parse_error_text_is_localised() -> None:
    with pytest.raises(ParseError) as info:
        parse_message("/add report 1000")
    zh = parse_error_text(info.value, "zh")
    en = parse_error_text(info.value, "en")
    assert "5" in zh
    assert "480" in zh
    assert "分钟" in zh
    assert "minutes must be between 5 and 480" in en


def test_a_missing_deadline_is_named_in_both_languages() -> None:
    with pytest.raises(ParseError) as info:
        parse_message("/add 写周报 30 by")
    assert "「by」后面缺少截止时间" in parse_error_text(info.value, "zh")
    assert "the time after 'by' is missing" in parse_error_text(info.value, "en")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:00", datetime(2026, 11, 30, 18, 0, tzinfo=SH)),
        ("09:00", datetime(2026, 12, 1, 9, 0, tzinfo=SH)),  # passed today -> tomorrow
        ("10:00", datetime(2026, 12, 1, 10, 0, tzinfo=SH)),  # exactly now counts as passed
        ("tomorrow 18:00", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("Tomorrow 6pm", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("明天18:00", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("明天 下午3点半", datetime(2026, 12, 1, 15, 30, tzinfo=SH)),
        ("今晚8点", datetime(2026, 11, 30, 20, 0, tzinfo=SH)),
        ("后天 9:00", datetime(2026, 12, 2, 9, 0, tzinfo=SH)),
        ("周五 18:00", datetime(2026, 12, 4, 18, 0, tzinfo=SH)),
        ("星期五18:00", datetime(2026, 12, 4, 18, 0, tzinfo=SH)),
        ("fri 18:00", datetime(2026, 12, 4, 18, 0, tzinfo=SH)),
        ("Friday 6:30 pm", datetime(2026, 12, 4, 18, 30, tzinfo=SH)),
        ("周一 11:00", datetime(2026, 11, 30, 11, 0, tzinfo=SH)),  # today, still ahead
        ("mon 09:00", datetime(2026, 12, 7, 9, 0, tzinfo=SH)),  # today but passed -> next week
        ("下周五 18:00", datetime(2026, 12, 11, 18, 0, tzinfo=SH)),
        ("next mon 9:00", datetime(2026, 12, 7, 9, 0, tzinfo=SH)),
        ("18:00 tomorrow", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("12-25 09:00", datetime(2026, 12, 25, 9, 0, tzinfo=SH)),
        # the nearest year: a month ago, not eleven months ahead (/add then refuses it as past)
        ("11月1日 9点", datetime(2026, 11, 1, 9, 0, tzinfo=SH)),
        ("11-29 10:00", datetime(2026, 11, 29, 10, 0, tzinfo=SH)),
        ("1月5日 9点", datetime(2027, 1, 5, 9, 0, tzinfo=SH)),  # the coming January
        ("2026-12-01T18:00", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("2026-12-01 18:00", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
        ("2026-12-01T18:00+08:00", datetime(2026, 12, 1, 18, 0, tzinfo=SH)),
    ],
)
def test_parse_time_text(text: str, expected: datetime) -> None:
    result = parse_time_text(text, NOW, "Asia/Shanghai")
    assert result == expected
    assert result.utcoffset() == timedelta(hours=8)  # shown in the user's zone


def test_parse_time_text_uses_the_given_zone() -> None:
    assert parse_time_text("18:00", NOW, ZoneInfo("UTC")) == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ParseErrorCode.BAD_TIME),
        ("someday", ParseErrorCode.BAD_TIME),
        ("25:00", ParseErrorCode.BAD_TIME),
        ("18:75", ParseErrorCode.BAD_TIME),
        ("13pm", ParseErrorCode.BAD_TIME),
        ("tomorrow 18", ParseErrorCode.BAD_TIME),
        ("2026-13-01 10:00", ParseErrorCode.BAD_TIME),
        ("2026-12-01", ParseErrorCode.MISSING_TIME_OF_DAY),
        ("fri", ParseErrorCode.MISSING_TIME_OF_DAY),
        ("明天", ParseErrorCode.MISSING_TIME_OF_DAY),
        ("2-30 10:00", ParseErrorCode.BAD_TIME),
    ],
)
def test_parse_time_text_errors(text: str, code: ParseErrorCode) -> None:
    with pytest.raises(ParseError) as info:
        parse_time_text(text, NOW, "Asia/Shanghai")
    assert info.value.code == code
    assert info.value.message


def test_parse_time_text_needs_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_time_text("18:00", datetime(2026, 11, 30, 10, 0), "Asia/Shanghai")


_FUZZ_ALPHABET = st.sampled_from(
    [
        *"/ad!by:-—0123456789 半小时分钟还差没做完明天周五",
        "/add ",
        "/admin ",
        "/prefs ",
        " by ",
        "--now ",
        "@_user_1",
    ]
)


def _parse_or_error(text: str) -> object:
    try:
        return parse_message(text)
    except ParseError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_FUZZ_ALPHABET, max_size=12).map("".join)))
def test_parse_message_fuzz_raises_only_parse_error(text: str) -> None:
    result = _parse_or_error(text)  # anything but a ParseError propagates and fails the test
    if isinstance(result, ParseError):
        assert result.message
        return
    assert isinstance(
        result, Help | Today | Tasks | Add | Done | Reopen | Unfinished | Prefs | Admin | Unknown
    )
    if isinstance(result, Add | Unfinished) and result.minutes is not None:
        assert 5 <= result.minutes <= 480


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(_FUZZ_ALPHABET, max_size=8).map("".join)))
def test_parse_time_text_fuzz_raises_only_parse_error(text: str) -> None:
    try:
        result = parse_time_text(text, NOW, "Asia/Shanghai")
    except ParseError:
        return
    assert result.tzinfo is not None


def test_unusual_digits() -> None:
    assert parse_message("报告还差٣٠分钟") == Unfinished("报告", 30, "报告还差٣٠分钟")  # Arabic-Indic digits
    for text, code in (
        ("/add report ፩፪", ParseErrorCode.MISSING_MINUTES),  # Ethiopic numerals are digits but not decimals
        ("/prefs cap ፩", ParseErrorCode.BAD_CAP),
    ):
        result = _parse_or_error(text)
        assert isinstance(result, ParseError)
        assert result.code == code


def test_long_rambles_stay_cheap_and_safe() -> None:
    command = parse_message("the 我 " * 5000 + "没做完")
    assert isinstance(command, Unfinished)
    assert command.task_ref is None  # too long to be a task name
