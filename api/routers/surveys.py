"""Surveys: questionnaires, invitations, responses checked against their scales."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.answers import CommandAnswer, InvitationsSent
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND, CREATE
from csm.api.path_ids import PathId
from csm.api.schemas import InvitationsIn, ResponseIn, SurveyIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])


@router.post("", status_code=201, response_model=CommandAnswer, responses=CREATE)
def create_survey(body: SurveyIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Annotated[Caller, Depends(allow())], key: IdempotencyKey = None):
    """Create a survey with its questions, dimensions and scales."""
    return record(rt, caller, key, request, body, c.CreateSurvey, now,
                  survey_id=body.survey_id or new_id())


@router.post("/{survey_id}/invitations", status_code=201, response_model=InvitationsSent,
             responses=COMMAND)
def send_invitations(survey_id: PathId, body: InvitationsIn, rt: RuntimeDep, now: Now,
                     request: Request, caller: Annotated[Caller, Depends(allow("agent"))],
                     key: IdempotencyKey = None):
    """Invite customers to answer a survey."""
    return record(rt, caller, key, request, body, c.SendInvitations, now,
                  survey_id=survey_id)


@router.post("/{survey_id}/responses", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def answer_survey(survey_id: PathId, body: ResponseIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Annotated[Caller, Depends(allow("channel", "agent"))],
                  key: IdempotencyKey = None):
    """Record a response; every answer must fit its question's scale."""
    return record(rt, caller, key, request, body, c.AnswerSurvey, now,
                  survey_id=survey_id, response_id=body.response_id or new_id())
