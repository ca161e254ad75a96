"""Command handlers for surveys, revisits and improvement actions."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from csm.domain.application import CoreHandlers, Hook, Recorded
from csm.domain.complaint import Complaint
from csm.domain.followups import may_invite, revisit_on_low_score
from csm.domain.improvement import ImprovementAction
from csm.domain.revisit import Revisit
from csm.domain.survey import Survey, SurveyResponse


class SurveyHandlers(CoreHandlers):
    def create_survey(self, survey_id: str, name: str, trigger: str,
                      questions: list[dict[str, Any]], now: datetime,
                      hooks: Sequence[Hook] = ()) -> Recorded:
        s = Survey.create(survey_id, name, trigger, questions, now)
        return self.commit(survey_id, s, hooks=hooks, creating=True)

    def send_invitations(self, survey_id: str, customer_ids: list[str], channel: str,
                         now: datetime, hooks: Sequence[Hook] = ()) -> Recorded:
        """Invites each customer once, unless the contact-frequency limit suppresses them."""
        rules, _ = self.policy()
        unique = list(dict.fromkeys(customer_ids))

        def attempt() -> Recorded:
            survey = self.get_as(survey_id, Survey, "survey")
            customers = [self.active_customer(c) for c in unique]
            invited = [c for c in customers if may_invite(c, rules, now)]
            invited_ids = {c.id for c in invited}
            suppressed = [c.id for c in customers if c.id not in invited_ids]
            survey.invite([c.id for c in invited], suppressed, channel, now)
            for c in invited:
                c.invite(survey_id, now)
            return self.commit(survey_id, survey, *invited, hooks=hooks,
                               extra={"invited": len(invited), "suppressed": len(suppressed)})
        return self.retrying(attempt, f"survey '{survey_id}'")

    def answer_survey(self, survey_id: str, response_id: str, *, customer_id: str | None,
                      department_id: str | None, channel: str, answers: list[dict[str, Any]],
                      comment: str | None, occurred_at: datetime, now: datetime,
                      hooks: Sequence[Hook] = ()) -> Recorded:
        survey = self.get_as(survey_id, Survey, "survey")
        customer = self.active_customer(customer_id)
        self.department(department_id)
        # The tier travels in the event: read models need no other stream to slice by it.
        r = SurveyResponse.answer(response_id, survey, customer_id=customer_id,
                                  tier=customer.tier if customer else None,
                                  department_id=department_id, channel=channel, answers=answers,
                                  comment=comment, occurred_at=occurred_at, now=now)
        rules, _ = self.policy()
        revisit = revisit_on_low_score(r, rules, now)
        return self.commit(response_id, r, *([revisit] if revisit else []), hooks=hooks,
                           creating=True)

    def schedule_revisit(self, revisit_id: str, *, customer_id: str, department_id: str,
                         reason: str, complaint_id: str | None, due_at: datetime,
                         occurred_at: datetime, now: datetime,
                         hooks: Sequence[Hook] = ()) -> Recorded:
        self.active_customer(customer_id)
        self.department(department_id)
        if complaint_id is not None:
            self.get_as(complaint_id, Complaint, "complaint")
        r = Revisit.schedule(revisit_id, customer_id=customer_id, department_id=department_id,
                             reason=reason, complaint_id=complaint_id, due_at=due_at,
                             cause_event_id=None, occurred_at=occurred_at, now=now)
        return self.commit(revisit_id, r, hooks=hooks, creating=True)

    def complete_revisit(self, revisit_id: str, outcome: str, satisfaction: int | None,
                         notes: str | None, occurred_at: datetime, now: datetime,
                         hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(revisit_id, Revisit, "revisit",
                           lambda r: r.complete(outcome, satisfaction, notes, occurred_at, now),
                           hooks=hooks)

    def raise_improvement(self, action_id: str, *, department_id: str, title: str,
                          source_ids: list[str], due_at: datetime, now: datetime,
                          hooks: Sequence[Hook] = ()) -> Recorded:
        self.department(department_id)
        a = ImprovementAction.raise_action(action_id, department_id=department_id, title=title,
                                           source_ids=source_ids, due_at=due_at, now=now)
        return self.commit(action_id, a, hooks=hooks, creating=True)

    def complete_improvement(self, action_id: str, now: datetime,
                             hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(action_id, ImprovementAction, "improvement action",
                           lambda a: a.complete(now), hooks=hooks)

    def verify_improvement(self, action_id: str, effective: bool, now: datetime,
                           hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(action_id, ImprovementAction, "improvement action",
                           lambda a: a.verify(effective, now), hooks=hooks)
