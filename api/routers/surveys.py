"""Surveys: questionnaires, invitations, responses checked against their scales."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.schemas import InvitationsIn, ResponseIn, SurveyIn

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])


@router.post("", status_code=201)
def create_survey(body: SurveyIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Annotated[Caller, Depends(allow())], key: IdempotencyKey = None):
    """Create a survey with its questions, dimensions and scales."""
    survey_id = body.survey_id or new_id()
    questions = [q.model_dump() for q in body.questions]
    return record(rt, caller, key, request, body, lambda hooks: rt.app.create_survey(
        survey_id, body.name, body.trigger, questions, now, hooks=hooks))


@router.post("/{survey_id}/invitations", status_code=201)
def send_invitations(survey_id: str, body: InvitationsIn, rt: RuntimeDep, now: Now,
                     request: Request, caller: Annotated[Caller, Depends(allow("agent"))],
                     key: IdempotencyKey = None):
    """Invite customers to answer a survey."""
    return record(rt, caller, key, request, body, lambda hooks: rt.app.send_invitations(
        survey_id, body.customer_ids, body.channel, now, hooks=hooks))


@router.post("/{survey_id}/responses", status_code=201)
def answer_survey(survey_id: str, body: ResponseIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Annotated[Caller, Depends(allow("channel", "agent"))],
                  key: IdempotencyKey = None):
    """Record a response; every answer must fit its question's scale."""
    response_id = body.response_id or new_id()
    answers = [a.model_dump() for a in body.answers]
    occurred_at = body.when(now)
    return record(rt, caller, key, request, body, lambda hooks: rt.app.answer_survey(
        survey_id, response_id, customer_id=body.customer_id, department_id=body.department_id,
        channel=body.channel, answers=answers, comment=body.comment, occurred_at=occurred_at,
        now=now, hooks=hooks))
