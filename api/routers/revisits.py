"""Revisits (回访): follow-up contacts scheduled and completed."""
from fastapi import APIRouter

from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.schemas import RevisitCompleteIn, RevisitIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/revisits", tags=["revisits"])

add_command_routes(router, [
    CommandRoute("schedule_revisit", "", c.ScheduleRevisit, RevisitIn, ("agent",),
                 "Schedule a follow-up contact with a customer.", new_ids=("revisit_id",)),
    CommandRoute("complete_revisit", "/{revisit_id}/complete", c.CompleteRevisit,
                 RevisitCompleteIn, ("agent",), "Record the outcome of a revisit."),
])
