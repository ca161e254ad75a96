"""Improvement actions (改进措施): raised, completed, verified."""
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.schemas import EmptyIn, ImprovementIn, VerifyIn

router = APIRouter(prefix="/v1/improvement-actions", tags=["improvement actions"])
Manager = Annotated[Caller, Depends(allow("manager"))]


@router.post("", status_code=201)
def raise_action(body: ImprovementIn, rt: RuntimeDep, now: Now, request: Request,
                 caller: Manager, key: IdempotencyKey = None):
    """Raise an improvement action for a department, linked to what caused it."""
    action_id = body.action_id or new_id()
    return record(rt, caller, key, request, body, lambda hooks: rt.app.raise_improvement(
        action_id, department_id=body.department_id, title=body.title,
        source_ids=body.source_ids, due_at=body.due_at, now=now, hooks=hooks))


@router.post("/{action_id}/complete", status_code=201)
def complete_action(action_id: str, rt: RuntimeDep, now: Now, request: Request, caller: Manager,
                    body: Annotated[EmptyIn | None, Body()] = None, key: IdempotencyKey = None):
    """Mark an improvement action as carried out."""
    return record(rt, caller, key, request, body, lambda hooks: rt.app.complete_improvement(
        action_id, now, hooks=hooks))


@router.post("/{action_id}/verify", status_code=201)
def verify_action(action_id: str, body: VerifyIn, rt: RuntimeDep, now: Now, request: Request,
                  caller: Manager, key: IdempotencyKey = None):
    """Record whether a completed improvement action was effective."""
    return record(rt, caller, key, request, body, lambda hooks: rt.app.verify_improvement(
        action_id, body.effective, now, hooks=hooks))
