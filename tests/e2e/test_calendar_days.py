"""`csm calendar-days` writes a year's holidays — for China with the make-up working days —
as a calendar's `days`, which a policy then takes as they are."""
from __future__ import annotations

import json
import os

from csm.domain.policy import PolicyRules
from tests.csm_process import run_csm

WEEK = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_china_2026_has_its_holidays_and_its_make_up_working_days(tmp_path):
    done = run_csm("calendar-days", "--country", "CN", "--year", "2026",
                   env={**os.environ, "CSM_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    days = json.loads(done.stdout)

    # National Day week, 1–7 October: the weekdays among them are holidays; the weekend days
    # around it that are worked (Sunday 20 September, Saturday 10 October) are open.
    assert [days.get(f"2026-10-0{n}") for n in (1, 2, 5, 6, 7)] == [[]] * 5
    assert days["2026-09-20"] == days["2026-10-10"] == [["09:00", "18:00"]]
    assert "2026-10-12" not in days  # an ordinary Monday
    rules = PolicyRules.model_validate({"calendars": {"office": {
        "time_zone": "Asia/Shanghai", "hours": WEEK, "days": days}}, "sla_calendar": "office"})
    assert rules.calendars["office"].days == days


def test_an_unknown_country_or_malformed_hours_is_refused(tmp_path):
    env = {**os.environ, "CSM_DATA_DIR": str(tmp_path)}
    unknown = run_csm("calendar-days", "--country", "XX", "--year", "2026", env=env)
    malformed = run_csm("calendar-days", "--country", "DE", "--year", "2026", "--hours", "9",
                        env=env)
    assert unknown.returncode == 1 and "XX" in unknown.stderr
    assert malformed.returncode == 2 and "is not HH:MM-HH:MM" in malformed.stderr
