"""Improvement actions (改进措施): raised, completed, verified."""
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from csm.api.answers import CommandAnswer
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND
from csm.api.path_ids import PathId
from csm.api.schemas import EmptyIn, ImprovementIn, VerifyIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/improvement-actions", tags=["improvement actions"])
Manager = Annotated[Caller, Depends(allow("manager"))]


@router.post("", status_code=201, response_model=CommandAnswer, responses=COMMAND)
def raise_action(body: ImprovementIn, rt: RuntimeDep, now: Now, request: Request,
                 caller: Manager, key: IdempotencyKey = None):
    """Raise an improvement action for a department, linked to what caused it."""
    return record(rt, caller, key, request, body, c.RaiseImprovement, now,
                  action_id=body.action_id or new_id())


@router.post("/{action_id}/complete", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def complete_action(action_id: PathId, rt: RuntimeDep, now: Now, request: Request, caller: Manager,
                    body: Annotated[EmptyIn | None, Body()] = None, key: IdempotencyKey = None):
    """Mark an improvement action as carried out."""
    return record(rt, caller, key, request, body, c.CompleteImprovement, now,
                  action_id=action_id)


@router.post("/{action_id}/verify", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def verify_action(action_id: PathId, body: VerifyIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Manager, key: IdempotencyKey = None):
    """Record whether a completed improvement action was effective."""
    return record(rt, caller, key, request, body, c.VerifyImprovement, now,
                  action_id=action_id)
