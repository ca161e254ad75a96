"""Business calendars and the arithmetic of due times on them.

A calendar is open during local wall-clock intervals — per weekday, or per date where a
date overrides its weekday (`[]` a holiday; intervals a make-up working day or a short
day). An instant is open when its wall-clock time in the calendar's zone lies inside an
interval of its local date, so across a DST change the real time that passes inside open
intervals is what counts (a repeated hour counts twice, a skipped one not at all).

`add(calendar, start, duration)` is the instant at which `duration` of open time has passed
since `start` (a start outside open time counts from the next opening); `open_between(a, b)`
is the open time inside [a, b). Without a calendar both are plain clock arithmetic.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from csm.domain.errors import InvalidTransition

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
# [start, end], local wall-clock times; "24:00" closes at the end of the day.
Interval = Annotated[list[Clock], Field(min_length=2, max_length=2)]
Intervals = Annotated[list[Interval], Field(max_length=48)]
DateKey = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
# How far a due time may lie: a calendar that cannot reach one within this many days of
# open and closed time together is refused when its policy is published.
HORIZON_DAYS = 366 * 20
# Offsets change on whole seconds; a change is looked for at least this often.
OFFSET_PROBE = timedelta(hours=3)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _checked(name: str, intervals: list[Interval]) -> list[Interval]:
    ordered = sorted(intervals, key=lambda i: _minutes(i[0]))
    for start, end in ordered:
        if _minutes(start) >= _minutes(end):
            raise ValueError(f"{name}: the interval {start}–{end} does not end after it starts")
    for (a_start, a_end), (b_start, b_end) in zip(ordered, ordered[1:]):
        if _minutes(b_start) < _minutes(a_end):
            raise ValueError(f"{name}: the intervals {a_start}–{a_end} and {b_start}–{b_end} "
                             "overlap")
    return [list(i) for i in ordered]


class Calendar(BaseModel):
    """Open hours per weekday in a time zone, and dates that override their weekday."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    time_zone: str = Field(max_length=64)
    hours: dict[Weekday, Intervals]
    days: dict[DateKey, Intervals] = Field(default_factory=dict, max_length=20_000,
                                           json_schema_extra={"additionalProperties": False})
    _spans: dict[date, list[tuple[datetime, datetime]]] = PrivateAttr(default_factory=dict)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if v not in _zones():
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as 'Asia/Shanghai')")
        return v

    @field_validator("hours")
    @classmethod
    def _weekly(cls, v: dict[str, list[Interval]]) -> dict[str, list[Interval]]:
        checked = {day: _checked(day, v.get(day, [])) for day in WEEKDAYS}
        if not any(checked.values()):
            raise ValueError("the calendar has no open time in its week: give open hours on "
                             "at least one weekday")
        return checked

    @field_validator("days")
    @classmethod
    def _dates(cls, v: dict[str, list[Interval]]) -> dict[str, list[Interval]]:
        out = {}
        for key, intervals in v.items():
            try:
                date.fromisoformat(key)
            except ValueError:
                raise ValueError(f"{key!r} is not a date (YYYY-MM-DD)") from None
            out[key] = _checked(key, intervals)
        return out

    @model_validator(mode="after")
    def _reaches(self) -> "Calendar":
        weekly = sum(_minutes(e) - _minutes(s) for day in WEEKDAYS for s, e in self.hours[day])
        if weekly * (HORIZON_DAYS // 7) < MAX_HOURS * 60:
            raise ValueError(f"the calendar is open {weekly} minutes a week: too little to "
                             f"reach a due time of {MAX_HOURS} hours within "
                             f"{HORIZON_DAYS // 366} years")
        return self

    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def intervals_on(self, day: date) -> list[Interval]:
        found = self.days.get(day.isoformat())
        return found if found is not None else self.hours[WEEKDAYS[day.weekday()]]

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open spans (UTC instants) of a local date, kept once worked out."""
        spans = self._spans.get(day)
        if spans is None:
            if len(self._spans) > 50_000:
                self._spans.clear()
            spans = self._spans[day] = _day_spans(self, self.zone(), day)
        return spans


MAX_HOURS = 24 * 365  # the longest SLA the policy admits


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def add(calendar: Calendar | None, start: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of open time has passed since `start`, at the UTC
    offset `start` was given in."""
    if calendar is None:
        return start + duration
    if duration <= timedelta(0):
        return start  # no open time to pass: the due stays where it is
    left = duration
    for span_start, span_end in _spans_from(calendar, start):
        if span_start + left <= span_end:
            return (span_start + left).astimezone(start.tzinfo)
        left -= span_end - span_start
    raise InvalidTransition(f"no due time can be set: the calendar has less open time than "
                            f"{duration} in the {HORIZON_DAYS // 366} years after "
                            f"{start.isoformat()} (its days close nearly all of them)")


def open_between(calendar: Calendar | None, a: datetime, b: datetime) -> timedelta:
    """The open time inside [a, b)."""
    if b <= a:
        return timedelta(0)
    if calendar is None:
        return b - a
    total = timedelta(0)
    for span_start, span_end in _spans_from(calendar, a):
        if span_start >= b:
            break
        total += min(span_end, b) - span_start
    return total


def _spans_from(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open spans (UTC instants) from `start` on, in order, the first cut at `start`."""
    zone = calendar.zone()
    first = start.astimezone(zone).date() - timedelta(days=1)
    for n in range(HORIZON_DAYS):
        day = first + timedelta(days=n)
        for span_start, span_end in calendar.spans_on(day):
            if span_end <= start:
                continue
            yield max(span_start, start), span_end


def _day_spans(calendar: Calendar, zone: ZoneInfo, day: date
               ) -> list[tuple[datetime, datetime]]:
    """The instants whose wall-clock time lies in an open interval of `day`."""
    spans = []
    midnight = datetime(day.year, day.month, day.day)
    for start, end in calendar.intervals_on(day):
        wall_start = midnight + timedelta(minutes=_minutes(start))
        wall_end = midnight + timedelta(minutes=_minutes(end))
        for seg_start, seg_end, offset in _segments(zone, wall_start - timedelta(hours=15),
                                                    wall_end + timedelta(hours=15)):
            lo, hi = max(wall_start, seg_start + offset), min(wall_end, seg_end + offset)
            if lo < hi:
                spans.append(((lo - offset).replace(tzinfo=UTC),
                              (hi - offset).replace(tzinfo=UTC)))
    return sorted(spans)


def _offset(zone: ZoneInfo, utc: datetime) -> timedelta:
    """The zone's UTC offset at the naive UTC instant `utc`."""
    return utc.replace(tzinfo=UTC).astimezone(zone).utcoffset()


def _segments(zone: ZoneInfo, lo: datetime, hi: datetime
              ) -> list[tuple[datetime, datetime, timedelta]]:
    """[lo, hi) (naive UTC) cut where the zone's offset changes: (start, end, offset)."""
    segments, start, offset, probe = [], lo, _offset(zone, lo), lo
    while probe < hi:
        nxt = min(probe + OFFSET_PROBE, hi)
        change = _first_change(zone, probe, nxt, offset)
        if change is None:
            probe = nxt
            continue
        segments.append((start, change, offset))
        start, offset, probe = change, _offset(zone, change), change
    segments.append((start, hi, offset))
    return segments


def _first_change(zone: ZoneInfo, a: datetime, b: datetime, offset: timedelta
                  ) -> datetime | None:
    """The first second in (a, b] whose offset is not `offset` (None if there is none)."""
    if _offset(zone, b) == offset:
        return None
    lo, hi = a, b  # offset(lo) == offset, offset(hi) != offset
    while hi - lo > timedelta(seconds=1):
        mid = max((lo + (hi - lo) / 2).replace(microsecond=0), lo + timedelta(seconds=1))
        if _offset(zone, mid) == offset:
            lo = mid
        else:
            hi = mid
    return hi
