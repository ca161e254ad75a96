"""Every command through `handle`, on in-memory persistence: answers, events, follow-ups."""
from __future__ import annotations

from datetime import timedelta

import pytest
from eventsourcing.application import AggregateNotFoundError

from csm.domain import commands as c
from csm.domain.application import NothingToRecord
from csm.domain.csm import CsmApplication
from csm.domain.errors import AlreadyExists, InvalidInput, InvalidTransition, NotFound
from csm.domain.values import derived_id
from tests.unit.domain_builders import T0, at
from tests.unit.service_harness import in_memory_app, opened, stream_types, with_basics


@pytest.fixture
def app() -> CsmApplication:
    return with_basics(in_memory_app())


def test_every_command_class_has_exactly_one_handler():
    commands = {k for k in vars(c).values() if isinstance(k, type)
                and issubclass(k, c.Command) and k not in (c.Command, c.Timed)}
    assert set(CsmApplication.HANDLERS) == commands


def test_a_registration_answers_its_id_and_the_position_of_its_event(app):
    answer = app.handle(c.RegisterDepartment(department_id="dept-2", name="Sales",
                                             satisfaction_target=75, now=T0)).answer()
    assert answer == {"id": "dept-2", "position": 5}
    assert stream_types(app, "dept-2") == ["department.registered"]


def test_creating_a_record_under_a_taken_id_is_refused(app):
    with pytest.raises(AlreadyExists):
        app.handle(c.RegisterDepartment(department_id="dept-1", name="Again",
                                        satisfaction_target=75, now=T0))


def test_opening_a_complaint_answers_its_due_times_from_the_policy(app):
    answer = opened(app).answer()
    assert answer["acknowledge_due"] == at(24).isoformat()
    assert answer["resolve_due"] == at(168).isoformat()


def test_an_unknown_customer_or_department_is_not_found(app):
    with pytest.raises(NotFound):
        app.handle(c.OpenComplaint(complaint_id="c-9", customer_id="nobody", channel="web",
                                   department_id="dept-1", category=None, severity="low",
                                   description="x", occurred_at=T0, now=T0))
    with pytest.raises(NotFound):
        app.handle(c.AcknowledgeComplaint(complaint_id="c-404", occurred_at=T0, now=T0))


def test_feedback_of_kind_complaint_opens_a_complaint_under_an_id_derived_from_it(app):
    answer = app.handle(c.SubmitFeedback(
        feedback_id="f-1", customer_id="cust-1", channel="phone", kind="complaint",
        department_id="dept-1", category=None, rating=None, text="Late delivery",
        severity=None, complaint_id=None, occurred_at=T0, now=T0)).answer()
    complaint_id = derived_id("f-1", "complaint")
    assert answer["complaint_id"] == complaint_id
    assert stream_types(app, complaint_id) == ["complaint.opened"]
    assert app.repository.get(complaint_id).severity == "medium"


def test_feedback_of_kind_complaint_without_a_department_is_refused(app):
    with pytest.raises(InvalidInput):
        app.handle(c.SubmitFeedback(
            feedback_id="f-2", customer_id=None, channel="web", kind="complaint",
            department_id=None, category=None, rating=None, text="x", severity=None,
            complaint_id=None, occurred_at=T0, now=T0))


def test_a_complaint_goes_through_its_lifecycle_command_by_command(app):
    opened(app)
    app.handle(c.AcknowledgeComplaint(complaint_id="c-1", by="agent-7", occurred_at=at(1),
                                      now=at(1)))
    app.handle(c.AssignComplaint(complaint_id="c-1", department_id=None, handler="li",
                                 occurred_at=at(2), now=at(2)))
    escalated = app.handle(c.EscalateComplaint(complaint_id="c-1", reason="vip",
                                               occurred_at=at(3), now=at(3))).answer()
    app.handle(c.ResolveComplaint(complaint_id="c-1", resolution="refunded",
                                  occurred_at=at(4), now=at(4)))
    reopened = app.handle(c.ReopenComplaint(complaint_id="c-1", reason="not refunded",
                                            occurred_at=at(5), now=at(5))).answer()
    assert escalated["escalation_level"] == 1
    assert reopened["resolve_due"] == at(5 + 168).isoformat()
    assert stream_types(app, "c-1") == [
        "complaint.opened", "complaint.acknowledged", "complaint.assigned",
        "complaint.escalated", "complaint.resolved", "complaint.reopened"]


def test_a_refused_transition_records_nothing(app):
    opened(app)
    with pytest.raises(InvalidTransition):
        app.handle(c.CloseComplaint(complaint_id="c-1", occurred_at=at(1), now=at(1)))
    assert stream_types(app, "c-1") == ["complaint.opened"]


def test_resolving_schedules_a_revisit_that_names_the_resolution_as_its_cause(app):
    opened(app)
    app.handle(c.AcknowledgeComplaint(complaint_id="c-1", occurred_at=at(1), now=at(1)))
    app.handle(c.ResolveComplaint(complaint_id="c-1", resolution="refunded", occurred_at=at(2),
                                  now=at(2)))
    revisit = app.repository.get(derived_id("revisit", "c-1", 3))
    [scheduled] = app.events.get(revisit.id)
    assert scheduled.cause_event_id == "c-1@3" and scheduled.complaint_id == "c-1"
    assert scheduled.due_at == at(2) + timedelta(days=3)


def test_resolving_without_the_follow_up_in_the_policy_schedules_nothing():
    app = with_basics(in_memory_app(), revisit_after_resolution=False)
    opened(app)
    app.handle(c.AcknowledgeComplaint(complaint_id="c-1", occurred_at=at(1), now=at(1)))
    app.handle(c.ResolveComplaint(complaint_id="c-1", resolution="ok", occurred_at=at(2),
                                  now=at(2)))
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(derived_id("revisit", "c-1", 3))


def test_closing_invites_the_customer_to_the_closure_survey_with_the_closure_as_cause():
    app = with_basics(in_memory_app(), revisit_after_resolution=False, closure_survey_id="s-1")
    opened(app)
    app.handle(c.AcknowledgeComplaint(complaint_id="c-1", occurred_at=at(1), now=at(1)))
    app.handle(c.ResolveComplaint(complaint_id="c-1", resolution="ok", occurred_at=at(2),
                                  now=at(2)))
    app.handle(c.CloseComplaint(complaint_id="c-1", customer_satisfied=True, satisfaction=5,
                                occurred_at=at(3), now=at(3)))
    invited = list(app.events.get("s-1"))[-1]
    assert type(invited).TYPE == "survey.invitations_sent"
    assert invited.cause_event_id == "c-1@4"
    assert stream_types(app, "cust-1")[-1] == "customer.invited"


def test_a_low_score_schedules_a_revisit_caused_by_the_response(app):
    app.handle(c.AnswerSurvey(survey_id="s-1", response_id="resp-1", customer_id="cust-1",
                              department_id="dept-1", channel="web",
                              answers=[{"question_id": "q-quality", "value": 1}], comment=None,
                              occurred_at=at(1), now=at(1)))
    [scheduled] = app.events.get(derived_id("revisit", "resp-1", 1))
    assert scheduled.cause_event_id == "resp-1@1" and scheduled.reason == "after_service"


def test_invitations_beyond_the_contact_limit_are_suppressed():
    app = with_basics(in_memory_app(), invitation_limit=1)
    first = app.handle(c.SendInvitations(survey_id="s-1", customer_ids=["cust-1", "cust-1"],
                                         channel="email", now=at(1))).answer()
    again = app.handle(c.SendInvitations(survey_id="s-1", customer_ids=["cust-1"],
                                         channel="email", now=at(2))).answer()
    assert (first["invited"], first["suppressed"]) == (1, 0)
    assert (again["invited"], again["suppressed"]) == (0, 1)


def test_the_watcher_command_records_a_missed_deadline_once(app):
    opened(app, severity="critical")
    missed = c.RecordMissedDeadlines(complaint_id="c-1", grace=timedelta(seconds=30),
                                     now=at(30))
    app.handle(missed)
    with pytest.raises(NothingToRecord):
        app.handle(missed)
    assert stream_types(app, "c-1") == [
        "complaint.opened", "complaint.sla_breached", "complaint.sla_breached",
        "complaint.escalated"]


def test_an_erased_customer_can_no_longer_open_complaints(app):
    app.handle(c.EraseCustomer(customer_id="cust-1", reason="request", now=at(1)))
    assert app.repository.get("cust-1").erased
    with pytest.raises(InvalidTransition):
        opened(app, "c-2")


def test_each_published_policy_answers_its_version(app):
    answer = app.handle(c.PublishPolicy(rules=app.policy()[0], by="admin", now=at(1))).answer()
    assert answer["version"] == 2


def test_revisits_and_improvement_actions_run_through_their_commands(app):
    app.handle(c.ScheduleRevisit(revisit_id="r-1", customer_id="cust-1", department_id="dept-1",
                                 reason="courtesy", complaint_id=None, due_at=at(48),
                                 occurred_at=T0, now=T0))
    app.handle(c.CompleteRevisit(revisit_id="r-1", outcome="satisfied", satisfaction=5,
                                 notes=None, occurred_at=at(1), now=at(1)))
    app.handle(c.RaiseImprovement(action_id="a-1", department_id="dept-1", title="Faster refunds",
                                  source_ids=["c-1"], due_at=at(240), now=T0))
    app.handle(c.CompleteImprovement(action_id="a-1", now=at(2)))
    app.handle(c.VerifyImprovement(action_id="a-1", effective=True, now=at(3)))
    assert stream_types(app, "r-1") == ["revisit.scheduled", "revisit.completed"]
    assert stream_types(app, "a-1") == ["improvement.raised", "improvement.completed",
                                        "improvement.verified"]


def test_commands_in_a_batch_see_each_other_and_are_recorded_by_one_flush(app):
    with app.batch() as uow:
        opened(app, "c-7")
        app.handle(c.AcknowledgeComplaint(complaint_id="c-7", occurred_at=at(1), now=at(1)))
        assert list(app.events.get("c-7")) == []  # nothing recorded before the flush
        last = app.flush(uow)
    assert stream_types(app, "c-7") == ["complaint.opened", "complaint.acknowledged"]
    assert last == 6
