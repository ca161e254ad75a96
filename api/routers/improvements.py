"""Improvement actions (改进措施): raised, completed, verified."""
from fastapi import APIRouter

from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.schemas import EmptyIn, ImprovementIn, VerifyIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/improvement-actions", tags=["improvement actions"])

add_command_routes(router, [
    CommandRoute("raise_action", "", c.RaiseImprovement, ImprovementIn, ("manager",),
                 "Raise an improvement action for a department, linked to what caused it.",
                 new_ids=("action_id",)),
    CommandRoute("complete_action", "/{action_id}/complete", c.CompleteImprovement, EmptyIn,
                 ("manager",), "Mark an improvement action as carried out.", optional_body=True),
    CommandRoute("verify_action", "/{action_id}/verify", c.VerifyImprovement, VerifyIn,
                 ("manager",), "Record whether a completed improvement action was effective."),
])
