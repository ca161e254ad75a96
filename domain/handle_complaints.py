"""Command handlers for feedback and complaints."""
from __future__ import annotations

from csm.domain import commands as c
from csm.domain.application import CoreHandlers, Recorded
from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.errors import InvalidInput, NotFound
from csm.domain.feedback import Feedback
from csm.domain.followups import closure_invitation, may_invite, revisit_after_resolution
from csm.domain.survey import Survey
from csm.domain.values import derived_id


def _dues(complaint: Complaint) -> dict[str, str]:
    return {"acknowledge_due": complaint.acknowledge_due.isoformat(),
            "resolve_due": complaint.resolve_due.isoformat()}


class ComplaintHandlers(CoreHandlers):
    def submit_feedback(self, cmd: c.SubmitFeedback) -> Recorded:
        customer = self.active_customer(cmd.customer_id)
        self.department(cmd.department_id)
        is_complaint = cmd.kind == "complaint"
        if is_complaint and cmd.department_id is None:
            raise InvalidInput("feedback of kind 'complaint' needs a department_id: "
                               "the complaint it opens must belong to a department",
                               loc=("department_id",))
        complaint_id = ((cmd.complaint_id or derived_id(cmd.feedback_id, "complaint"))
                        if is_complaint else None)
        severity = (cmd.severity or "medium") if is_complaint else cmd.severity
        f = Feedback.submit(cmd.feedback_id, customer_id=cmd.customer_id, channel=cmd.channel,
                            kind=cmd.kind, department_id=cmd.department_id,
                            category=cmd.category, rating=cmd.rating, text=cmd.text,
                            severity=severity, complaint_id=complaint_id,
                            occurred_at=cmd.occurred_at, now=cmd.now)
        if not is_complaint:
            return self.commit(cmd.feedback_id, f, creating=True)
        opened = self._open(complaint_id, customer, cmd.channel, cmd.department_id, cmd.category,
                            severity, cmd.text, cmd.feedback_id, cmd.occurred_at, cmd.now)
        return self.commit(cmd.feedback_id, f, opened, creating=True,
                           extra={"complaint_id": complaint_id, **_dues(opened)})

    def open_complaint(self, cmd: c.OpenComplaint) -> Recorded:
        customer = self.active_customer(cmd.customer_id)
        self.department(cmd.department_id)
        opened = self._open(cmd.complaint_id, customer, cmd.channel, cmd.department_id,
                            cmd.category, cmd.severity, cmd.description, None, cmd.occurred_at,
                            cmd.now)
        return self.commit(cmd.complaint_id, opened, creating=True, extra=_dues(opened))

    def _open(self, complaint_id, customer, channel, department_id, category, severity,
              description, feedback_id, occurred_at, now) -> Complaint:
        rules, version = self.policy()
        return Complaint.open(
            complaint_id, customer_id=customer.id if customer else None,
            high_value=bool(customer and customer.high_value), channel=channel,
            department_id=department_id, category=category, severity=severity,
            description=description, feedback_id=feedback_id, rules=rules,
            policy_version=version, occurred_at=occurred_at, now=now)

    def _change(self, cmd: c.Timed, change, extra=None, then=None) -> Recorded:
        """Changes the complaint; `then(complaint)` may give a follow-up command, handled in
        the same unit of work."""
        recorded = self.update(cmd.complaint_id, Complaint, "complaint", change, extra=extra)
        if then is not None:
            self.follow_up(then(self.get_as(cmd.complaint_id, Complaint, "complaint")))
        return recorded

    def acknowledge_complaint(self, cmd: c.AcknowledgeComplaint) -> Recorded:
        return self._change(cmd, lambda x: x.acknowledge(cmd.by, cmd.occurred_at, cmd.now))

    def assign_complaint(self, cmd: c.AssignComplaint) -> Recorded:
        self.department(cmd.department_id)
        return self._change(cmd, lambda x: x.assign(cmd.department_id or x.department_id,
                                                    cmd.handler, cmd.occurred_at, cmd.now))

    def escalate_complaint(self, cmd: c.EscalateComplaint) -> Recorded:
        return self._change(cmd, lambda x: x.escalate(cmd.reason, cmd.occurred_at, cmd.now),
                            extra=lambda x: {"escalation_level": x.level})

    def resolve_complaint(self, cmd: c.ResolveComplaint) -> Recorded:
        rules, _ = self.policy()
        return self._change(
            cmd, lambda x: x.resolve(cmd.resolution, cmd.by, cmd.occurred_at, cmd.now, rules),
            then=lambda x: revisit_after_resolution(x, rules, cmd.occurred_at, cmd.now))

    def await_customer(self, cmd: c.AwaitCustomer) -> Recorded:
        return self._change(cmd, lambda x: x.await_customer(cmd.reason, cmd.occurred_at, cmd.now))

    def customer_replied(self, cmd: c.CustomerReplied) -> Recorded:
        rules, version = self.policy()
        return self._change(
            cmd, lambda x: x.customer_replied(rules, version, cmd.occurred_at, cmd.now),
            extra=lambda x: {"resolve_due": x.resolve_due.isoformat()})

    def reopen_complaint(self, cmd: c.ReopenComplaint) -> Recorded:
        rules, version = self.policy()
        return self._change(
            cmd, lambda x: x.reopen(cmd.reason, rules, version, cmd.occurred_at, cmd.now),
            extra=lambda x: {"resolve_due": x.resolve_due.isoformat()})

    def close_complaint(self, cmd: c.CloseComplaint) -> Recorded:
        rules, _ = self.policy()
        return self._change(
            cmd, lambda x: x.close(cmd.customer_satisfied, cmd.satisfaction, cmd.occurred_at,
                                   cmd.now),
            then=lambda x: closure_invitation(x, rules, cmd.now))

    def invite_after_closure(self, cmd: c.InviteAfterClosure) -> Recorded:
        """Invites the customer of a closed complaint to the closure survey, or records them
        as suppressed by the contact-frequency limit; nothing if either is gone or erased."""
        rules, _ = self.policy()
        try:
            survey = self.get_as(cmd.survey_id, Survey, "survey")
            customer = self.get_as(cmd.customer_id, Customer, "customer")
        except NotFound:
            return Recorded(cmd.survey_id, 0)
        if customer.erased:
            return Recorded(cmd.survey_id, 0)
        if may_invite(customer, rules, cmd.now):
            survey.invite([customer.id], [], "complaint_closure", cmd.now, cmd.cause_event_id)
            customer.invite(survey.id, cmd.now, cmd.cause_event_id)
            return self.commit(survey.id, survey, customer)
        survey.invite([], [customer.id], "complaint_closure", cmd.now, cmd.cause_event_id)
        return self.commit(survey.id, survey)

    def record_missed_deadlines(self, cmd: c.RecordMissedDeadlines) -> Recorded:
        """Breaches for due times that passed unmet; nothing to record if none did.

        Deciding again on the fresh state after a conflict is what makes two
        watchers at once record each breach once.
        """
        complaint = self.get_as(cmd.complaint_id, Complaint, "complaint")
        for which, due in complaint.missed_deadlines(cmd.now, cmd.grace):
            complaint.record_missed_deadline(which, due, cmd.now)
        return self.commit(cmd.complaint_id, complaint, about=f"complaint '{cmd.complaint_id}'")
