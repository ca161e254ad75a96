"""Follow-ups projection: Given surveys, invitations, revisits, improvement actions → Then their rows."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from csm.domain.improvement import ImprovementAction
from csm.domain.revisit import Revisit
from csm.projections.followups.projection import Followups
from tests.unit.domain_builders import QUESTIONS, T0, a_survey, at
from tests.unit.projection_harness import History, by_key, replay

P = Followups()


# -- surveys and invitations -------------------------------------------------------------------------
def test_a_created_survey_is_a_row_with_its_question_count():
    h = History()
    h.record(a_survey("s-1"))

    assert replay(P, h.events)["surveys"] == [
        {"survey_id": "s-1", "name": "After purchase", "trigger": "event",
         "questions": len(QUESTIONS), "suppressed": 0}]


@pytest.mark.parametrize("batches", [None, 1])
def test_invitations_are_distinct_per_customer_and_keep_the_first(batches):
    h = History()
    s = a_survey("s-1")
    h.record(s)
    s.invite(["cust-1", "cust-2"], [], "email", T0)
    h.record(s)  # position 2
    s.invite(["cust-2", "cust-3"], [], "sms", T0)
    h.record(s)  # position 3

    rows = replay(P, h.events, batches=batches)["survey_invitations"]

    assert rows == [
        {"survey_id": "s-1", "customer_id": "cust-1", "channel": "email", "position": 2},
        {"survey_id": "s-1", "customer_id": "cust-2", "channel": "email", "position": 2},
        {"survey_id": "s-1", "customer_id": "cust-3", "channel": "sms", "position": 3}]


def test_invitations_to_two_surveys_are_separate():
    h = History()
    s1, s2 = a_survey("s-1"), a_survey("s-2")
    h.record(s1, s2)
    s1.invite(["cust-1"], [], "email", T0)
    s2.invite(["cust-1"], [], "email", T0)
    h.record(s1, s2)

    rows = replay(P, h.events)["survey_invitations"]

    assert [(r["survey_id"], r["customer_id"]) for r in rows] == [("s-1", "cust-1"), ("s-2", "cust-1")]


@pytest.mark.parametrize("batches", [None, 1])
def test_suppressed_invitations_are_counted_on_the_survey(batches):
    h = History()
    s = a_survey("s-1")
    h.record(s)
    s.invite(["cust-1"], ["cust-2", "cust-3"], "email", T0)
    h.record(s)
    s.invite([], ["cust-4"], "email", T0)
    h.record(s)

    result = replay(P, h.events, batches=batches)

    assert result["surveys"][0]["suppressed"] == 3
    assert [r["customer_id"] for r in result["survey_invitations"]] == ["cust-1"]


# -- revisits ----------------------------------------------------------------------------------
def scheduled(revisit_id="r-1", occurred_at=T0) -> Revisit:
    return Revisit.schedule(revisit_id, customer_id="cust-1", department_id="dept-1",
                            reason="complaint_followup", complaint_id="c-1", due_at=at(72),
                            cause_event_id="c-1@4", occurred_at=occurred_at, now=occurred_at)


def test_a_scheduled_revisit_is_a_row_awaiting_completion():
    h = History()
    h.record(scheduled())

    assert replay(P, h.events)["revisits"] == [{
        "revisit_id": "r-1", "customer_id": "cust-1", "department_id": "dept-1",
        "reason": "complaint_followup", "complaint_id": "c-1", "cause_event_id": "c-1@4",
        "scheduled_at": T0, "scheduled_day": date(2024, 3, 4), "due_at": at(72),
        "completed_at": None, "outcome": None, "satisfaction": None}]


@pytest.mark.parametrize("batches", [None, 1])
def test_a_completed_revisit_records_outcome_and_satisfaction(batches):
    h = History()
    r1, r2 = scheduled("r-1"), scheduled("r-2")
    h.record(r1, r2)
    r1.complete("reached", 4, "fine now", at(30), at(30))
    r2.complete("unreachable", None, None, at(31), at(31))
    h.record(r1, r2)

    rows = by_key(replay(P, h.events, batches=batches)["revisits"], "revisit_id")

    assert (rows["r-1"]["completed_at"], rows["r-1"]["outcome"], rows["r-1"]["satisfaction"]) == (
        at(30), "reached", 4)
    assert (rows["r-2"]["completed_at"], rows["r-2"]["outcome"], rows["r-2"]["satisfaction"]) == (
        at(31), "unreachable", None)
    assert rows["r-1"]["scheduled_at"] == T0


def test_a_revisit_is_scheduled_on_the_local_day():
    h = History()
    h.record(scheduled(occurred_at=T0.replace(hour=20)))

    [row] = replay(P, h.events, zone=ZoneInfo("Asia/Shanghai"))["revisits"]

    assert row["scheduled_day"] == date(2024, 3, 5)


# -- improvement actions ---------------------------------------------------------------------------
def raised(action_id="ia-1") -> ImprovementAction:
    return ImprovementAction.raise_action(action_id, department_id="dept-1", title="Fix it",
                                          source_ids=["c-1", "c-2"], due_at=at(720), now=T0)


def test_an_improvement_action_goes_raised_completed_verified():
    h = History()
    a = raised()
    h.record(a)
    row = replay(P, h.events)["improvement_actions"][0]
    assert row == {"action_id": "ia-1", "department_id": "dept-1", "title": "Fix it",
                   "source_ids": ["c-1", "c-2"], "cause_event_id": None, "status": "raised",
                   "raised_at": T0, "due_at": at(720), "completed_at": None,
                   "verified_at": None, "effective": None}

    a.complete(at(100))
    h.record(a)
    row = replay(P, h.events, batches=1)["improvement_actions"][0]
    assert (row["status"], row["completed_at"], row["verified_at"]) == ("completed", at(100), None)

    a.verify(False, at(200))
    h.record(a)
    for batches in (None, 1):
        row = replay(P, h.events, batches=batches)["improvement_actions"][0]
        assert (row["status"], row["completed_at"], row["verified_at"], row["effective"]) == (
            "verified", at(100), at(200), False)
        assert row["raised_at"] == T0


def test_improvement_actions_are_one_row_each():
    h = History()
    a, b = raised("ia-1"), raised("ia-2")
    h.record(a, b)
    b.complete(at(1))
    b.verify(True, at(2))
    h.record(b)

    rows = replay(P, h.events)["improvement_actions"]

    assert [(r["action_id"], r["status"], r["effective"]) for r in rows] == [
        ("ia-1", "raised", None), ("ia-2", "verified", True)]
