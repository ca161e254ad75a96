"""Surveys: questionnaires, invitations, responses checked against their scales."""
from fastapi import APIRouter

from csm.api.answers import InvitationsSent
from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.openapi import CREATE
from csm.api.schemas import InvitationsIn, ResponseIn, SurveyIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])

add_command_routes(router, [
    CommandRoute("create_survey", "", c.CreateSurvey, SurveyIn, (),
                 "Create a survey with its questions, dimensions and scales.",
                 responses=CREATE, new_ids=("survey_id",)),
    CommandRoute("send_invitations", "/{survey_id}/invitations", c.SendInvitations,
                 InvitationsIn, ("agent",), "Invite customers to answer a survey.",
                 answer=InvitationsSent),
    CommandRoute("answer_survey", "/{survey_id}/responses", c.AnswerSurvey, ResponseIn,
                 ("channel", "agent"),
                 "Record a response; every answer must fit its question's scale.",
                 new_ids=("response_id",)),
])
