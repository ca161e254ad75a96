"""SLA on business calendars through the service layer: the cases complaint and ticket tools
got wrong. Every expected due time is worked out by hand in the comment beside it.

The office calendar: Asia/Shanghai, Monday to Friday 09:00–18:00; 1–7 October 2026 are
holidays, Sunday 20 September and Saturday 10 October make-up working days (调休). SLA
hours: low 2 to acknowledge, 20 to resolve; critical counts around the clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from csm.domain import commands as c
from csm.domain.application import NothingToRecord
from csm.domain.complaint import Complaint
from csm.domain.errors import InvalidTransition
from csm.domain.policy import DEFAULT_RULES, PolicyRules
from tests.unit.service_harness import in_memory_app

WEEK = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
OFFICE = {"time_zone": "Asia/Shanghai", "hours": WEEK,
          "days": {**{f"2026-10-0{n}": [] for n in range(1, 8)},
                   "2026-09-20": [["09:00", "18:00"]], "2026-10-10": [["09:00", "18:00"]]}}
BERLIN = {"time_zone": "Europe/Berlin",
          "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
SLA = {**DEFAULT_RULES.model_dump(mode="json")["sla_hours"],
       "low": {"acknowledge": 2, "resolve": 20}}


def local(text: str, zone: str = "+08:00") -> datetime:
    return datetime.fromisoformat(text + zone)


def policy(**rules) -> PolicyRules:
    return PolicyRules.model_validate({"sla_hours": SLA, "calendars": {"office": OFFICE},
                                       "sla_calendar": "office", **rules})


def an_app(rules: PolicyRules):
    app = in_memory_app()
    first = local("2026-09-01T00:00")
    app.handle(c.PublishPolicy(rules=rules, by="admin", now=first))
    for dept in ("dept-1", "dept-2"):
        app.handle(c.RegisterDepartment(department_id=dept, name=dept, satisfaction_target=80,
                                        now=first))
    return app


def open_low(app, at: datetime, severity: str = "low", complaint_id: str = "c-1"):
    return app.handle(c.OpenComplaint(
        complaint_id=complaint_id, customer_id=None, channel="web", department_id="dept-1",
        category=None, severity=severity, description="late delivery", occurred_at=at,
        now=at)).extra


def do(app, command, **fields):
    at = fields.pop("at")
    return app.handle(command(complaint_id="c-1", occurred_at=at, now=at, **fields)).extra


def at_(text: str) -> datetime:
    return datetime.fromisoformat(text)


def complaint(app) -> Complaint:
    return app.repository.get("c-1")


def test_a_friday_evening_start_counts_five_minutes_then_from_monday_morning():
    app = an_app(policy())
    dues = open_low(app, local("2026-10-23T17:55"))  # a Friday
    # acknowledge: 17:55–18:00 (5 min), Monday 09:00 + 1 h 55 → 10:55
    assert at_(dues["acknowledge_due"]) == local("2026-10-26T10:55")
    # resolve: 5 min + Mon 9 h + Tue 9 h = 18 h 05; Wed 09:00 + 1 h 55 → 10:55
    assert at_(dues["resolve_due"]) == local("2026-10-28T10:55")


def test_a_holiday_inside_the_interval_is_skipped():
    app = an_app(policy())
    dues = open_low(app, local("2026-09-30T17:00"))
    # 17:00–18:00 on Wednesday (1 h); 1–7 October closed; Thursday 8th 09:00 + 1 h
    assert at_(dues["acknowledge_due"]) == local("2026-10-08T10:00")


def test_a_make_up_sunday_is_a_working_day():
    app = an_app(policy())
    dues = open_low(app, local("2026-09-19T10:00"))  # a Saturday: closed
    assert at_(dues["acknowledge_due"]) == local("2026-09-20T11:00")  # Sunday 09:00 + 2 h


def test_a_dst_change_inside_open_hours_counts_the_real_time_that_passed():
    nights = {"time_zone": "Europe/Berlin",
              "hours": {d: [["00:00", "06:00"]] for d in
                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    app = an_app(policy(calendars={"office": nights}))
    # 29 March 2026: 02:00 CET becomes 03:00 CEST, so 00:00–06:00 holds 5 real hours.
    dues = open_low(app, local("2026-03-29T00:00", "+01:00"))
    # 2 real hours after 00:00 CET is 03:00 CEST (never 02:00, which does not exist)
    assert at_(dues["acknowledge_due"]) == local("2026-03-29T03:00", "+02:00")
    # 5 h on the 29th, 6 h on the 30th and the 31st (17 h), 3 h on 1 April → 03:00
    assert at_(dues["resolve_due"]) == local("2026-04-01T03:00", "+02:00")


def test_a_repeated_hour_at_the_end_of_dst_counts_twice():
    nights = {"time_zone": "America/New_York",
              "hours": {d: [["00:00", "04:00"]] for d in
                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    app = an_app(policy(calendars={"office": nights}))
    # 1 November 2026: 02:00 EDT becomes 01:00 EST; 00:00 EDT + 2 real hours = 01:00 EST
    dues = open_low(app, local("2026-11-01T00:00", "-04:00"))
    assert at_(dues["acknowledge_due"]) == local("2026-11-01T01:00", "-05:00")


def test_an_interval_closing_at_24_00_runs_to_midnight():
    evenings = {"time_zone": "Asia/Shanghai",
                "hours": {d: [["20:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
    app = an_app(policy(calendars={"office": evenings}))
    dues = open_low(app, local("2026-10-26T23:00"))  # Monday: 23:00–24:00, Tuesday 20:00 + 1 h
    assert at_(dues["acknowledge_due"]) == local("2026-10-27T21:00")


def test_critical_complaints_count_around_the_clock_by_default():
    app = an_app(policy())
    dues = open_low(app, local("2026-10-23T17:55"), severity="critical")
    assert at_(dues["acknowledge_due"]) == local("2026-10-23T19:55")


@pytest.fixture
def waiting():
    """Opened Tuesday 29 September 09:00: resolve due 20 open hours later — Tue 9 h, Wed 9 h,
    the holidays, Thursday 8 October 2 h → 11:00; acknowledged; waiting since Wed 17:00."""
    app = an_app(policy())
    dues = open_low(app, local("2026-09-29T09:00"))
    assert at_(dues["resolve_due"]) == local("2026-10-08T11:00")
    do(app, c.AcknowledgeComplaint, at=local("2026-09-29T09:30"))
    do(app, c.AwaitCustomer, reason="photos of the damage", at=local("2026-09-30T17:00"))
    return app


def test_a_pause_that_spans_a_holiday_moves_the_due_by_the_open_time_it_held(waiting):
    answer = do(waiting, c.CustomerReplied, at=local("2026-10-08T10:00"))
    # waited: Wed 17:00–18:00 and Thu 8th 09:00–10:00, 2 open hours; 11:00 + 2 h → 13:00
    assert at_(answer["resolve_due"]) == local("2026-10-08T13:00")
    replied = list(waiting.events.get("c-1"))[-1]
    assert (type(replied).TYPE, replied.waited_seconds) == ("complaint.customer_replied", 7200)
    assert complaint(waiting).status == "acknowledged"


def test_a_resolution_while_waiting_is_judged_against_the_due_extended_so_far(waiting):
    do(waiting, c.ResolveComplaint, resolution="replaced", at=local("2026-10-08T12:30"))
    # waited so far: 1 h + 3 h 30 (09:00–12:30) = 4 h 30; 11:00 + 4 h 30 → 15:30, on time
    resolved = list(waiting.events.get("c-1"))[-1]
    assert (type(resolved).TYPE, resolved.on_time) == ("complaint.resolved", True)
    assert resolved.resolve_due == local("2026-10-08T15:30")


def test_while_waiting_the_watcher_records_no_resolve_breach(waiting):
    with pytest.raises(NothingToRecord):
        waiting.handle(c.RecordMissedDeadlines(complaint_id="c-1", grace=timedelta(0),
                                               now=local("2026-10-20T09:00")))


def test_a_pause_begun_after_the_due_had_passed_changes_nothing():
    app = an_app(policy())
    open_low(app, local("2026-09-29T09:00"))
    do(app, c.AcknowledgeComplaint, at=local("2026-09-29T09:30"))
    do(app, c.AwaitCustomer, reason="photos", at=local("2026-10-08T12:00"))  # due was 11:00
    answer = do(app, c.CustomerReplied, at=local("2026-10-08T15:00"))
    assert at_(answer["resolve_due"]) == local("2026-10-08T11:00")
    do(app, c.ResolveComplaint, resolution="replaced", at=local("2026-10-08T16:00"))
    breach, resolved = list(app.events.get("c-1"))[-2:]
    assert (type(breach).TYPE, breach.which, breach.due) == (
        "complaint.sla_breached", "resolve", local("2026-10-08T11:00"))
    assert resolved.on_time is False


def test_the_reply_counts_the_wait_on_the_calendar_of_the_department_owning_it_then():
    app = an_app(policy(calendars={"office": OFFICE, "berlin": BERLIN},
                        department_calendars={"dept-2": "berlin"}))
    open_low(app, local("2026-09-29T09:00"))  # dept-1, office: due Thu 8 Oct 11:00 (+08)
    do(app, c.AcknowledgeComplaint, at=local("2026-09-29T09:30"))
    do(app, c.AssignComplaint, department_id="dept-2", handler="anna",
       at=local("2026-09-29T10:00"))
    do(app, c.AwaitCustomer, reason="photos", at=local("2026-09-30T08:00", "+00:00"))
    answer = do(app, c.CustomerReplied, at=local("2026-09-30T12:00", "+00:00"))
    # In Berlin the wait ran 10:00–14:00 CEST: 4 open hours (in Shanghai it would be 2).
    # The due, 8 Oct 05:00 CEST, lies before Berlin opens: 09:00 + 4 h → 13:00 CEST
    assert at_(answer["resolve_due"]) == local("2026-10-08T13:00", "+02:00")


def test_a_reopen_sets_its_due_on_the_calendar_of_the_policy_in_force_then():
    app = an_app(policy())
    open_low(app, local("2026-10-19T09:00"))
    do(app, c.AcknowledgeComplaint, at=local("2026-10-19T09:30"))
    do(app, c.ResolveComplaint, resolution="refunded", at=local("2026-10-19T10:00"))
    around_the_clock = policy().model_copy(update={"sla_calendar": None})
    app.handle(c.PublishPolicy(rules=around_the_clock, by="admin", now=local("2026-10-20T00:00")))
    answer = do(app, c.ReopenComplaint, reason="still broken", at=local("2026-10-23T17:55"))
    assert at_(answer["resolve_due"]) == local("2026-10-24T13:55")  # 20 clock hours


def test_the_reply_only_comes_while_waiting_and_waiting_only_once_acknowledged():
    app = an_app(policy())
    open_low(app, local("2026-10-19T09:00"))
    with pytest.raises(InvalidTransition, match="only an acknowledged or reopened complaint "
                                                "can wait on the customer"):
        do(app, c.AwaitCustomer, reason="photos", at=local("2026-10-19T09:10"))
    with pytest.raises(InvalidTransition, match="only a complaint awaiting the customer"):
        do(app, c.CustomerReplied, at=local("2026-10-19T09:20"))
