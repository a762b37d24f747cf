"""What answers teach: the overrun factor's bounded steps, and the accepted hours that become preferred."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from scheduler.planning import model as pm
from scheduler.services.context import user_prefs
from scheduler.services.learning import learn_hours, learn_overrun, preferred_hours
from store.models import User


def _user(**kw: object) -> User:
    return User(open_id="ou_a", name="A", timezone="Asia/Shanghai", locale="zh", overrun_factor=1.0,
                learn_overrun=True, day_start="08:00", day_end="22:30", **kw)  # fmt: skip


def test_the_overrun_factor_moves_a_bounded_step_per_report() -> None:
    user = _user()
    learn_overrun(user, timedelta(minutes=30), 20)  # 50 of 30: 1.67x observed
    assert user.overrun_factor == 1.17
    for _ in range(30):  # however many reports of triple the time, never past 2.0
        learn_overrun(user, timedelta(minutes=30), 60)
    assert 1.9 < user.overrun_factor <= 2.0
    before = user.overrun_factor
    learn_overrun(user, timedelta(minutes=30), 0)  # nothing left: nothing learned
    assert user.overrun_factor == before


def _add(hour: int) -> pm.Change:
    start = datetime(2026, 11, 30, hour, tzinfo=UTC) - timedelta(hours=8)  # `hour` in Shanghai
    return pm.Change(pm.ChangeKind.ADD_BLOCK, task_id="t", start=start, end=start + timedelta(hours=1))


def test_accepted_hours_become_preferred_after_about_two_accepts() -> None:
    user = _user()
    learn_hours(user, [_add(14)])
    assert preferred_hours(user.accepted_hours) == ()  # once is not a habit
    learn_hours(user, [_add(14)])
    learn_hours(user, [_add(14)])
    learn_hours(user, [_add(9)])
    assert preferred_hours(user.accepted_hours) == ((time(14), time(15)),)
    assert user_prefs(user).preferred == ((time(14), time(15)),)
    user.learn_overrun = False  # learning off: the planner uses none of it
    assert user_prefs(user).preferred == ()


def test_bad_stored_hours_are_ignored() -> None:
    assert preferred_hours({"x": 3, "25": 4, "7": "many", "8": 2.5}) == ((time(8), time(9)),)
    assert preferred_hours(None) == ()
