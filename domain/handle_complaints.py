"""Command handlers for feedback and complaints."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from csm.domain.application import CoreHandlers, Hook, NothingToRecord, Recorded
from csm.domain.base import event_id
from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.errors import InvalidInput, NotFound
from csm.domain.feedback import Feedback
from csm.domain.followups import may_invite, revisit_after_resolution
from csm.domain.policy import PolicyRules
from csm.domain.survey import Survey


def _dues(c: Complaint) -> dict[str, str]:
    return {"acknowledge_due": c.acknowledge_due.isoformat(), "resolve_due": c.resolve_due.isoformat()}


class ComplaintHandlers(CoreHandlers):
    def submit_feedback(self, feedback_id: str, *, customer_id: str | None, channel: str,
                        kind: str, department_id: str | None, category: str | None,
                        rating: int | None, text: str | None, severity: str | None,
                        complaint_id: str | None, occurred_at: datetime, now: datetime,
                        hooks: Sequence[Hook] = ()) -> Recorded:
        customer = self.active_customer(customer_id)
        self.department(department_id)
        if kind != "complaint":
            f = Feedback.submit(feedback_id, customer_id=customer_id, channel=channel, kind=kind,
                                department_id=department_id, category=category, rating=rating,
                                text=text, severity=severity, complaint_id=None,
                                occurred_at=occurred_at, now=now)
            return self.commit(feedback_id, f, hooks=hooks, creating=True)
        if department_id is None:
            raise InvalidInput("feedback of kind 'complaint' needs a department_id: "
                               "the complaint it opens must belong to a department",
                               loc=("department_id",))
        complaint_id = complaint_id or f"{feedback_id}:complaint"
        severity = severity or "medium"
        f = Feedback.submit(feedback_id, customer_id=customer_id, channel=channel, kind=kind,
                            department_id=department_id, category=category, rating=rating,
                            text=text, severity=severity, complaint_id=complaint_id,
                            occurred_at=occurred_at, now=now)
        c = self._open(complaint_id, customer, channel, department_id, category, severity,
                       text, feedback_id, occurred_at, now)
        return self.commit(feedback_id, f, c, hooks=hooks, creating=True,
                           extra={"complaint_id": complaint_id, **_dues(c)})

    def open_complaint(self, complaint_id: str, *, customer_id: str | None, channel: str,
                       department_id: str, category: str | None, severity: str,
                       description: str, occurred_at: datetime, now: datetime,
                       hooks: Sequence[Hook] = ()) -> Recorded:
        customer = self.active_customer(customer_id)
        self.department(department_id)
        c = self._open(complaint_id, customer, channel, department_id, category, severity,
                       description, None, occurred_at, now)
        return self.commit(complaint_id, c, hooks=hooks, creating=True, extra=_dues(c))

    def _open(self, complaint_id, customer, channel, department_id, category, severity,
              description, feedback_id, occurred_at, now) -> Complaint:
        rules, version = self.policy()
        return Complaint.open(
            complaint_id, customer_id=customer.id if customer else None,
            high_value=bool(customer and customer.high_value), channel=channel,
            department_id=department_id, category=category, severity=severity,
            description=description, feedback_id=feedback_id, rules=rules,
            policy_version=version, occurred_at=occurred_at, now=now)

    def acknowledge_complaint(self, complaint_id: str, by: str | None, occurred_at: datetime,
                              now: datetime, hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(complaint_id, Complaint, "complaint",
                           lambda c: c.acknowledge(by, occurred_at, now), hooks=hooks)

    def assign_complaint(self, complaint_id: str, department_id: str | None, handler: str,
                         occurred_at: datetime, now: datetime,
                         hooks: Sequence[Hook] = ()) -> Recorded:
        self.department(department_id)

        def change(c: Complaint) -> None:
            c.assign(department_id or c.department_id, handler, occurred_at, now)
        return self.update(complaint_id, Complaint, "complaint", change, hooks=hooks)

    def escalate_complaint(self, complaint_id: str, reason: str, occurred_at: datetime,
                           now: datetime, hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(complaint_id, Complaint, "complaint",
                           lambda c: c.escalate(reason, occurred_at, now), hooks=hooks,
                           extra=lambda c: {"escalation_level": c.level})

    def resolve_complaint(self, complaint_id: str, resolution: str, by: str | None,
                          occurred_at: datetime, now: datetime,
                          hooks: Sequence[Hook] = ()) -> Recorded:
        rules, _ = self.policy()

        def change(c: Complaint) -> list:
            c.resolve(resolution, by, occurred_at, now)
            revisit = revisit_after_resolution(c, rules, occurred_at, now)
            return [revisit] if revisit else []
        return self.update(complaint_id, Complaint, "complaint", change, hooks=hooks)

    def reopen_complaint(self, complaint_id: str, reason: str, occurred_at: datetime,
                         now: datetime, hooks: Sequence[Hook] = ()) -> Recorded:
        rules, version = self.policy()
        return self.update(complaint_id, Complaint, "complaint",
                           lambda c: c.reopen(reason, rules, version, occurred_at, now),
                           hooks=hooks, extra=lambda c: {"resolve_due": c.resolve_due.isoformat()})

    def close_complaint(self, complaint_id: str, customer_satisfied: bool | None,
                        satisfaction: int | None, occurred_at: datetime, now: datetime,
                        hooks: Sequence[Hook] = ()) -> Recorded:
        rules, _ = self.policy()

        def change(c: Complaint) -> list:
            c.close(customer_satisfied, satisfaction, occurred_at, now)
            return self._closure_invitation(c, rules, now)
        return self.update(complaint_id, Complaint, "complaint", change, hooks=hooks)

    def _closure_invitation(self, c: Complaint, rules: PolicyRules, now: datetime) -> list:
        """Invites the customer to the policy's complaint-closure survey, if one is named."""
        survey_id = rules.followups.closure_survey_id
        if survey_id is None or c.customer_id is None:
            return []
        try:
            survey = self.get_as(survey_id, Survey, "survey")
            customer = self.get_as(c.customer_id, Customer, "customer")
        except NotFound:
            return []
        if customer.erased:
            return []
        cause = event_id(c.id, c.version)
        if may_invite(customer, rules, now):
            survey.invite([customer.id], [], "complaint_closure", now, cause)
            customer.invite(survey.id, now, cause)
            return [survey, customer]
        survey.invite([], [customer.id], "complaint_closure", now, cause)
        return [survey]

    def record_missed_deadlines(self, complaint_id: str, now: datetime, grace: timedelta
                                ) -> Recorded | None:
        """The deadline watcher's command: breaches for due times that passed unmet.

        Deciding again on the fresh state after a conflict is what makes two
        watchers at once record each breach once.
        """
        def attempt() -> Recorded:
            c = self.get_as(complaint_id, Complaint, "complaint")
            missed = c.missed_deadlines(now, grace)
            if not missed:
                raise NothingToRecord(complaint_id)
            for which, due in missed:
                c.record_missed_deadline(which, due, now)
            return self.commit(complaint_id, c)
        try:
            return self.retrying(attempt, f"complaint '{complaint_id}'")
        except NothingToRecord:
            return None
