"""Command handlers for surveys, revisits and improvement actions."""
from __future__ import annotations

from csm.domain import commands as c
from csm.domain.application import CoreHandlers, Recorded
from csm.domain.complaint import Complaint
from csm.domain.followups import may_invite, revisit_on_low_score
from csm.domain.improvement import ImprovementAction
from csm.domain.revisit import Revisit
from csm.domain.survey import Survey, SurveyResponse


class SurveyHandlers(CoreHandlers):
    def create_survey(self, cmd: c.CreateSurvey) -> Recorded:
        s = Survey.create(cmd.survey_id, cmd.name, cmd.trigger, cmd.questions, cmd.now)
        return self.commit(cmd.survey_id, s, creating=True)

    def send_invitations(self, cmd: c.SendInvitations) -> Recorded:
        """Invites each customer once, unless the contact-frequency limit suppresses them."""
        rules, _ = self.policy()
        survey = self.get_as(cmd.survey_id, Survey, "survey")
        customers = [self.active_customer(x) for x in dict.fromkeys(cmd.customer_ids)]
        invited = [x for x in customers if may_invite(x, rules, cmd.now)]
        invited_ids = {x.id for x in invited}
        suppressed = [x.id for x in customers if x.id not in invited_ids]
        survey.invite([x.id for x in invited], suppressed, cmd.channel, cmd.now)
        for x in invited:
            x.invite(cmd.survey_id, cmd.now)
        return self.commit(cmd.survey_id, survey, *invited,
                           extra={"invited": len(invited), "suppressed": len(suppressed)},
                           about=f"survey '{cmd.survey_id}'")

    def answer_survey(self, cmd: c.AnswerSurvey) -> Recorded:
        survey = self.get_as(cmd.survey_id, Survey, "survey")
        customer = self.active_customer(cmd.customer_id)
        self.department(cmd.department_id)
        # The tier travels in the event: read models need no other stream to slice by it.
        r = SurveyResponse.answer(cmd.response_id, survey, customer_id=cmd.customer_id,
                                  tier=customer.tier if customer else None,
                                  department_id=cmd.department_id, channel=cmd.channel,
                                  answers=cmd.answers, comment=cmd.comment,
                                  occurred_at=cmd.occurred_at, now=cmd.now)
        rules, _ = self.policy()
        recorded = self.commit(cmd.response_id, r, creating=True)
        self.follow_up(revisit_on_low_score(r, rules, cmd.now))
        return recorded

    def schedule_revisit(self, cmd: c.ScheduleRevisit) -> Recorded:
        self.active_customer(cmd.customer_id)
        self.department(cmd.department_id)
        if cmd.complaint_id is not None:
            self.get_as(cmd.complaint_id, Complaint, "complaint")
        return self._schedule(cmd, cause_event_id=None)

    def schedule_followup_revisit(self, cmd: c.ScheduleFollowUpRevisit) -> Recorded:
        """A revisit the closed loop decided: its cause was checked when that was decided."""
        return self._schedule(cmd, cmd.cause_event_id)

    def _schedule(self, cmd: c.ScheduleRevisit, cause_event_id: str | None) -> Recorded:
        r = Revisit.schedule(cmd.revisit_id, customer_id=cmd.customer_id,
                             department_id=cmd.department_id, reason=cmd.reason,
                             complaint_id=cmd.complaint_id, due_at=cmd.due_at,
                             cause_event_id=cause_event_id, occurred_at=cmd.occurred_at,
                             now=cmd.now)
        return self.commit(cmd.revisit_id, r, creating=True)

    def complete_revisit(self, cmd: c.CompleteRevisit) -> Recorded:
        return self.update(cmd.revisit_id, Revisit, "revisit", lambda r: r.complete(
            cmd.outcome, cmd.satisfaction, cmd.notes, cmd.occurred_at, cmd.now))

    def raise_improvement(self, cmd: c.RaiseImprovement) -> Recorded:
        self.department(cmd.department_id)
        a = ImprovementAction.raise_action(cmd.action_id, department_id=cmd.department_id,
                                           title=cmd.title, source_ids=cmd.source_ids,
                                           due_at=cmd.due_at, now=cmd.now)
        return self.commit(cmd.action_id, a, creating=True)

    def complete_improvement(self, cmd: c.CompleteImprovement) -> Recorded:
        return self.update(cmd.action_id, ImprovementAction, "improvement action",
                           lambda a: a.complete(cmd.now))

    def verify_improvement(self, cmd: c.VerifyImprovement) -> Recorded:
        return self.update(cmd.action_id, ImprovementAction, "improvement action",
                           lambda a: a.verify(cmd.effective, cmd.now))
