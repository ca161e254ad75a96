"""Departments and feedback items: what registering and submitting record."""
from __future__ import annotations

from csm.domain.department import Department
from csm.domain.feedback import Feedback
from tests.unit.domain_builders import T0, at, recorded


def test_registering_a_department_records_its_name_and_satisfaction_target():
    d = Department.register("dept-qm", "Quality management", 85, T0)

    [registered] = recorded(d)
    assert type(registered).TYPE == "department.registered"
    assert registered.originator_id == "dept-qm"
    assert (registered.department_id, registered.name, registered.satisfaction_target) == (
        "dept-qm", "Quality management", 85)
    assert registered.occurred_at == registered.timestamp == T0
    assert (d.name, d.satisfaction_target) == ("Quality management", 85)


def test_submitting_feedback_records_what_the_customer_said_and_when():
    f = Feedback.submit("fb-1", customer_id="cust-1", channel="social_media", kind="complaint",
                        department_id="dept-1", category="delivery", rating=1,
                        text="Three weeks late", severity="high", complaint_id="c-1",
                        occurred_at=at(-24), now=T0)

    [submitted] = recorded(f)
    assert type(submitted).TYPE == "feedback.submitted"
    assert (submitted.feedback_id, submitted.customer_id, submitted.channel) == (
        "fb-1", "cust-1", "social_media")
    assert (submitted.kind, submitted.department_id, submitted.category) == (
        "complaint", "dept-1", "delivery")
    assert (submitted.rating, submitted.text, submitted.severity, submitted.complaint_id) == (
        1, "Three weeks late", "high", "c-1")
    assert (submitted.occurred_at, submitted.timestamp) == (at(-24), T0)
    assert (f.kind, f.customer_id, f.complaint_id) == ("complaint", "cust-1", "c-1")


def test_anonymous_praise_needs_no_customer_department_or_complaint():
    f = Feedback.submit("fb-2", customer_id=None, channel="hotline", kind="praise",
                        department_id=None, category=None, rating=None, text="Lovely staff",
                        severity=None, complaint_id=None, occurred_at=T0, now=T0)

    [submitted] = recorded(f)
    assert (submitted.kind, submitted.customer_id, submitted.complaint_id) == ("praise", None, None)
    assert submitted.personal_subject() == "stream:fb-2"
