"""A year's `days` for a business calendar, from well-kept holiday packages.

`csm calendar-days` prints them for an admin to put into the policy: the published policy
holds the explicit dates, so a replay never depends on a package's version. For China
(`CN`) the `chinesecalendar` package gives the State Council's schedule — holidays and the
make-up working days (调休) on weekends; elsewhere `holidays` gives the public holidays.
"""
from __future__ import annotations

from datetime import date, timedelta

WEEKEND = (5, 6)


def holiday_days(country: str, year: int, workday: list[list[str]],
                 subdivision: str | None = None) -> dict[str, list[list[str]]]:
    """{date: []} for each holiday on a weekday, {date: workday} for each make-up day."""
    if country.upper() == "CN":
        return _china(year, workday)
    import holidays
    found = holidays.country_holidays(country.upper(), subdiv=subdivision, years=year)
    return {d.isoformat(): [] for d in sorted(found) if d.weekday() not in WEEKEND}


def _china(year: int, workday: list[list[str]]) -> dict[str, list[list[str]]]:
    import chinese_calendar
    days: dict[str, list[list[str]]] = {}
    day = date(year, 1, 1)
    while day.year == year:
        weekend = day.weekday() in WEEKEND
        try:
            works = chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise ValueError(f"chinesecalendar has no schedule for {year} yet") from None
        if weekend and works:
            days[day.isoformat()] = workday
        elif not weekend and not works:
            days[day.isoformat()] = []
        day += timedelta(days=1)
    return days
