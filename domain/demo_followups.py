"""The surveys, revisits and improvement actions of the demo year (mixed into its story).

Invitations follow the policy's contact-frequency limit exactly as the application applies
it, so only customers really invited answer; a low score and a resolution get the revisit
the application schedules itself, completed here under the id it derives.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from csm.domain import commands as c
from csm.domain.demo_cast import (ACTION_TITLES, AFTER_SERVICE_SURVEY, COMMENTS, DEPARTMENT,
                                  RELATIONSHIP_SURVEY, DemoCustomer)
from csm.domain.demo_complaints import DAY, HOUR
from csm.domain.thresholds import low_score
from csm.domain.values import derived_id


class FollowUpSteps:
    """Survey, revisit and action steps of the story (uses its rng, clock and output)."""

    # -- surveys ------------------------------------------------------------------------
    def invite(self, at: datetime, survey_id: str, customers: list[DemoCustomer],
               channel: str) -> list[DemoCustomer]:
        """Sends invitations; those the contact-frequency limit lets through."""
        unique = list({x.id: x for x in customers}.values())
        invited = [x for x in unique if self.may_invite(x, at)]
        for x in invited:
            x.invited.append(at)
        self.emit(c.SendInvitations(survey_id=survey_id, customer_ids=[x.id for x in unique],
                                    channel=channel, now=at))
        return invited

    def may_invite(self, customer: DemoCustomer, at: datetime) -> bool:
        f = self.rules.followups
        if f.invitation_limit is None:
            return True
        since = at - timedelta(days=f.invitation_limit_days)
        return sum(1 for t in customer.invited if t > since) < f.invitation_limit

    def invite_served(self, at: datetime) -> None:
        jobs, self.jobs = self.jobs, []
        if not jobs:
            return
        invited = {x.id for x in self.invite(at, AFTER_SERVICE_SURVEY[0], [x for x, _ in jobs],
                                             "sms")}
        for customer, dep_id in jobs:
            if customer.id in invited and self.rng.random() < customer.responsiveness:
                later = min(self.rng.expovariate(1.0), 6.0) * DAY + 10 * timedelta(minutes=1)
                self.plan(at + later, self.answer, AFTER_SERVICE_SURVEY, customer, dep_id,
                          self.rng.choice(("sms", "sms", "wechat", "app")))

    def wave(self, at: datetime, channel: str) -> None:
        k = min(len(self.customers), 140)
        chosen = self.rng.sample(self.customers, k)
        for customer in self.invite(at, RELATIONSHIP_SURVEY[0], chosen, channel):
            if self.rng.random() < 0.9 * customer.responsiveness:
                later = min(self.rng.expovariate(1 / 3), 20.0) * DAY + 30 * timedelta(minutes=1)
                self.plan(at + later, self.answer, RELATIONSHIP_SURVEY, customer,
                          customer.home, "web" if channel == "email" else channel)

    def answer(self, at: datetime, survey, customer: DemoCustomer, dep_id: str,
               channel: str) -> None:
        survey_id, _, _, questions = survey
        mood = self.mood(dep_id, at) + customer.disposition
        offsets = DEPARTMENT[dep_id].offsets
        answers, scales = [], []
        for q in questions:
            if self.rng.random() < 0.93 or (not answers and q is questions[-1]):
                value = self.score(q["scale"], mood + offsets.get(q["dimension"], 0))
                answers.append({"question_id": q["question_id"], "value": value})
                scales.append((q["scale"], value))
        response_id, occurred = self.new_id("r"), self.occurred(at)
        comment = self.rng.choice(COMMENTS) if self.rng.random() < 0.08 else None
        self.emit(c.AnswerSurvey(survey_id=survey_id, response_id=response_id,
                                 customer_id=customer.id, department_id=dep_id,
                                 channel=channel, answers=answers, comment=comment,
                                 occurred_at=occurred, now=at))
        f = self.rules.followups
        if f.revisit_on_low_score and any(low_score(s, v) for s, v in scales):
            self.followup_revisit(derived_id("revisit", response_id, 1), customer, dep_id,
                                  occurred + timedelta(days=f.revisit_on_low_score_days), at,
                                  -0.3)

    def score(self, scale: str, mood: float) -> int:
        if scale == "nps10":
            return max(0, min(10, round(self.rng.gauss(7.6 + 2.0 * mood, 1.7))))
        shift = 0 if scale == "likert5" else -0.4
        return max(1, min(5, round(self.rng.gauss(3.85 + shift + 0.9 * mood, 0.85))))

    # -- revisits -----------------------------------------------------------------------
    def followup_revisit(self, revisit_id: str, customer: DemoCustomer, dep_id: str,
                         due: datetime, at: datetime, lift: float) -> None:
        """A revisit the application schedules itself: completed by its id, mostly."""
        if self.rng.random() < 0.85:
            when = max(at + 2 * HOUR, due + self.rng.uniform(-18, 36) * HOUR)
            self.plan(when, self.complete_revisit, revisit_id, customer, dep_id, lift)

    def periodic_revisit(self, at: datetime, customer: DemoCustomer) -> None:
        revisit_id, due = self.new_id("v"), at + 7 * DAY
        self.emit(c.ScheduleRevisit(revisit_id=revisit_id, customer_id=customer.id,
                                    department_id=customer.home, reason="periodic",
                                    complaint_id=None, due_at=due,
                                    occurred_at=self.occurred(at), now=at))
        if self.rng.random() < 0.9:
            when = max(at + HOUR, due + self.rng.uniform(-5, 2) * DAY)
            self.plan(when, self.complete_revisit, revisit_id, customer, customer.home, 0.2)
        self.plan(at + self.rng.uniform(80, 100) * DAY, self.periodic_revisit, customer)

    def complete_revisit(self, at: datetime, revisit_id: str, customer: DemoCustomer,
                         dep_id: str, lift: float) -> None:
        outcome = self.weighted((("reached", 72), ("unreachable", 20), ("declined", 8)))
        score = None
        if outcome == "reached":
            mood = self.mood(dep_id, at) + customer.disposition + lift
            score = max(1, min(5, round(self.rng.gauss(3.7 + 0.9 * mood, 0.9))))
        notes = "Customer confirmed all is well now" if score and score >= 4 and \
            self.rng.random() < 0.2 else None
        self.emit(c.CompleteRevisit(revisit_id=revisit_id, outcome=outcome, satisfaction=score,
                                    notes=notes, occurred_at=self.occurred(at), now=at))

    # -- improvement actions ------------------------------------------------------------
    def scripted_action(self, at: datetime, dep_id: str, day: int, title: str, due_days: int,
                        completed: int | None, verified: int | None, effective: bool,
                        effect: float) -> None:
        action_id = self.raise_action(at, dep_id, title, due_days)
        if completed is not None:
            self.plan(self.day_at(completed, 4), self.complete_action, action_id, dep_id, effect)
        if verified is not None:
            self.plan(self.day_at(verified, 4), self.verify_action, action_id, effective)

    def random_action(self, at: datetime, dep_id: str) -> None:
        rng = self.rng
        due_days = rng.uniform(30, 60)
        action_id = self.raise_action(at, dep_id, rng.choice(ACTION_TITLES), due_days)
        if rng.random() < 0.8:
            done = at + rng.uniform(7, 1.3 * due_days) * DAY
            effective = rng.random() < 0.65
            self.plan(done, self.complete_action, action_id, dep_id, 0.08 if effective else 0)
            if rng.random() < 0.75:
                self.plan(done + rng.uniform(14, 40) * DAY, self.verify_action, action_id,
                          effective)

    def raise_action(self, at: datetime, dep_id: str, title: str, due_days: float) -> str:
        recent = list(self.recent[dep_id])
        sources = self.rng.sample(recent, min(len(recent), self.rng.randint(1, 3)))
        action_id = self.new_id("a")
        self.emit(c.RaiseImprovement(action_id=action_id, department_id=dep_id, title=title,
                                     source_ids=sources,
                                     due_at=(at + due_days * DAY).replace(microsecond=0),
                                     now=at))
        return action_id

    def complete_action(self, at: datetime, action_id: str, dep_id: str, effect: float) -> None:
        if effect:
            self.effects[dep_id].append((at, effect))
        self.emit(c.CompleteImprovement(action_id=action_id, now=at))

    def verify_action(self, at: datetime, action_id: str, effective: bool) -> None:
        self.emit(c.VerifyImprovement(action_id=action_id, effective=effective, now=at))
