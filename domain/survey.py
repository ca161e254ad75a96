"""A survey (its questions and scales), its invitations, and the responses to it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.errors import InvalidInput
from csm.domain.values import SCALES


class Survey(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Created(CsmCreated, Event):
        TYPE = "survey.created"
        survey_id: str
        name: str
        trigger: str
        questions: list[dict[str, Any]]

        def apply(self, s: "Survey") -> None:
            s.name = self.name
            s.questions = {q["question_id"]: q for q in self.questions}

    class InvitationsSent(Event):
        TYPE = "survey.invitations_sent"
        survey_id: str
        customer_ids: list[str]
        suppressed_ids: list[str]
        channel: str
        cause_event_id: str | None


    @classmethod
    def create(cls, survey_id: str, name: str, trigger: str, questions: list[dict[str, Any]],
               now: datetime) -> "Survey":
        if not questions:
            raise InvalidInput("a survey needs at least one question", loc=("questions",))
        seen: set[str] = set()
        for i, q in enumerate(questions):
            if q["question_id"] in seen:
                raise InvalidInput(f"question_id {q['question_id']!r} appears twice",
                                   loc=("questions", i, "question_id"))
            seen.add(q["question_id"])
            if q["scale"] not in SCALES:
                raise InvalidInput(f"unknown scale {q['scale']!r}; use one of {sorted(SCALES)}",
                                   loc=("questions", i, "scale"))
        return cls._start(cls.Created, survey_id, now, now, survey_id=survey_id, name=name,
                          trigger=trigger, questions=questions)

    def invite(self, customer_ids: list[str], suppressed_ids: list[str], channel: str,
               now: datetime, cause_event_id: str | None = None) -> None:
        self._record(self.InvitationsSent, now, now, survey_id=self.id,
                     customer_ids=customer_ids, suppressed_ids=suppressed_ids, channel=channel,
                     cause_event_id=cause_event_id)

    def checked_answers(self, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each answer checked against its question and enriched with its dimension and scale."""
        if not answers:
            raise InvalidInput("a response must answer at least one question", loc=("answers",))
        checked, seen = [], set()
        for i, a in enumerate(answers):
            qid, value = a["question_id"], a["value"]
            question = self.questions.get(qid)
            if question is None:
                raise InvalidInput(f"survey '{self.id}' has no question {qid!r}",
                                   loc=("answers", i, "question_id"))
            if qid in seen:
                raise InvalidInput(f"question {qid!r} is answered twice",
                                   loc=("answers", i, "question_id"))
            seen.add(qid)
            low, high = SCALES[question["scale"]]
            if not (low <= value <= high):
                raise InvalidInput(
                    f"answer to {qid!r} is {value}, outside its scale {question['scale']} "
                    f"({low}..{high})", loc=("answers", i, "value"))
            checked.append({"question_id": qid, "value": value,
                            "dimension": question["dimension"], "scale": question["scale"]})
        return checked


class SurveyResponse(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Answered(CsmCreated, Event):
        TYPE = "survey.answered"
        PERSONAL = ("comment",)
        response_id: str
        survey_id: str
        customer_id: str | None
        tier: str | None
        department_id: str | None
        channel: str
        answers: list[dict[str, Any]]
        comment: str | None

    @classmethod
    def answer(cls, response_id: str, survey: Survey, *, customer_id: str | None,
               tier: str | None, department_id: str | None, channel: str, answers: list[dict[str, Any]],
               comment: str | None, occurred_at: datetime, now: datetime) -> "SurveyResponse":
        return cls._start(cls.Answered, response_id, now, occurred_at, response_id=response_id,
                          survey_id=survey.id, customer_id=customer_id, tier=tier,
                          department_id=department_id, channel=channel,
                          answers=survey.checked_answers(answers), comment=comment)
