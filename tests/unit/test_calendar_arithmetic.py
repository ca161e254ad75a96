"""Due-time arithmetic on business calendars against a plain minute-by-minute walk.

Random calendars (weekday hours, holidays, make-up and short days, closes at 24:00) in
zones with DST changes (Europe/Berlin, America/New_York) and without (Asia/Shanghai);
starts inside and outside open time; random pauses. A minute is open when its wall-clock
time lies in an interval of its local date; the walk counts such minutes one by one.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from csm.domain.calendars import WEEKDAYS, Calendar, add, open_between
from csm.domain.errors import InvalidTransition

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Shanghai")
MINUTE = timedelta(minutes=1)
# Spans both DST changes of 2026 in Berlin (Mar 29, Oct 25) and New York (Mar 8, Nov 1).
FIRST_DAY, LAST_DAY = date(2026, 3, 1), date(2026, 11, 20)


def _clock(quarter: int) -> str:
    return "24:00" if quarter == 96 else f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


@st.composite
def intervals(draw, empty_ok: bool = True) -> list[list[str]]:
    """0–3 disjoint intervals on a 15-minute grid, some of them closing at 24:00."""
    n = draw(st.integers(0 if empty_ok else 1, 3))
    edges = sorted(draw(st.sets(st.integers(0, 96), min_size=2 * n, max_size=2 * n)))
    return [[_clock(a), _clock(b)] for a, b in zip(edges[::2], edges[1::2])]


@st.composite
def calendars(draw) -> Calendar:
    hours = {day: draw(intervals()) for day in WEEKDAYS}
    hours[draw(st.sampled_from(WEEKDAYS))] = draw(intervals(empty_ok=False))
    days = draw(st.dictionaries(
        st.dates(FIRST_DAY, LAST_DAY).map(date.isoformat), intervals(), max_size=12))
    try:
        return Calendar(time_zone=draw(st.sampled_from(ZONES)), hours=hours, days=days)
    except ValidationError:  # too little open time in the week for the longest SLA
        assume(False)


DST_CHANGES = (datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 10, 25),
               datetime(2026, 11, 1))
# Any minute of the range, or (as often) one within two days before a DST change.
instants = st.one_of(
    st.datetimes(datetime(2026, 3, 1), datetime(2026, 11, 1)),
    st.builds(lambda change, minutes: change - timedelta(minutes=minutes),
              st.sampled_from(DST_CHANGES), st.integers(0, 2 * 24 * 60)),
).map(lambda t: t.replace(second=0, microsecond=0, tzinfo=UTC))


def is_open(calendar: Calendar, t: datetime) -> bool:
    local = t.astimezone(ZoneInfo(calendar.time_zone))
    wall = local.hour * 60 + local.minute
    return any(_minutes(a) <= wall < _minutes(b) for a, b in calendar.intervals_on(local.date()))


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def walk(calendar: Calendar, start: datetime, minutes: int,
         pause: tuple[datetime, datetime] | None = None) -> datetime:
    """The end of the `minutes`-th open minute from `start`, minutes inside `pause` not
    counted."""
    t, left = start, minutes
    while left:
        if is_open(calendar, t) and not (pause and pause[0] <= t < pause[1]):
            left -= 1
        t += MINUTE
    return t


def walk_count(calendar: Calendar, a: datetime, b: datetime) -> int:
    n, t = 0, a
    while t < b:
        n += is_open(calendar, t)
        t += MINUTE
    return n


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(calendars(), instants, st.integers(1, 12 * 60))
def test_a_due_time_is_where_the_walk_over_open_minutes_ends(calendar, start, minutes):
    assert add(calendar, start, minutes * MINUTE) == walk(calendar, start, minutes)


@FAST
@given(calendars(), instants, st.integers(0, 4 * 24 * 60))
def test_the_open_time_between_two_instants_counts_the_open_minutes(calendar, a, minutes):
    b = a + minutes * MINUTE
    assert open_between(calendar, a, b) == walk_count(calendar, a, b) * MINUTE


@FAST
@given(calendars(), instants, st.integers(1, 12 * 60), st.integers(0, 6 * 24 * 60),
       st.integers(0, 4 * 24 * 60))
def test_a_pause_moves_the_due_time_by_the_open_time_it_held(calendar, start, minutes,
                                                            pause_after, pause_minutes):
    pause = (start + pause_after * MINUTE, start + (pause_after + pause_minutes) * MINUTE)
    due = add(calendar, start, minutes * MINUTE)
    moved = add(calendar, due, open_between(calendar, *pause)) if pause[0] < due else due
    assert moved == walk(calendar, start, minutes, pause)


def test_without_a_calendar_time_counts_around_the_clock():
    start = datetime(2026, 10, 9, 9, 55, tzinfo=UTC)
    assert add(None, start, timedelta(hours=48)) == start + timedelta(hours=48)
    assert open_between(None, start, start + timedelta(hours=3)) == timedelta(hours=3)


@pytest.mark.parametrize(("calendar", "message"), [
    ({"time_zone": "Mars/Olympus", "hours": {"mon": [["09:00", "18:00"]]}}, "unknown time zone"),
    ({"time_zone": "UTC", "hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
     "mon: the intervals 09:00–12:00 and 11:00–13:00 overlap"),
    ({"time_zone": "UTC", "hours": {"mon": [["18:00", "09:00"]]}},
     "does not end after it starts"),
    ({"time_zone": "UTC", "hours": {"mon": []}, "days": {"2026-10-10": [["09:00", "18:00"]]}},
     "no open time in its week"),
    ({"time_zone": "UTC", "hours": {"mon": [["09:00", "09:15"]]}}, "too little to reach"),
    ({"time_zone": "UTC", "hours": {"mon": [["09:00", "24:30"]]}}, "String should match"),
    ({"time_zone": "UTC", "hours": {"mon": [["09:00", "18:00"]]}, "days": {"2026-02-30": []}},
     "is not a date"),
], ids=["unknown zone", "overlapping", "backwards", "no open time", "too little",
        "past 24:00", "no such date"])
def test_a_calendar_that_cannot_work_is_refused_saying_why(calendar, message):
    with pytest.raises(ValidationError, match=message):
        Calendar.model_validate(calendar)


def test_a_due_time_beyond_the_horizon_is_refused_saying_why():
    closed = {(date(2026, 1, 1) + timedelta(days=n)).isoformat(): [] for n in range(20_000)}
    calendar = Calendar(time_zone="UTC", hours={"mon": [["00:00", "24:00"]]}, days=closed)
    with pytest.raises(InvalidTransition, match="no due time can be set"):
        add(calendar, datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
