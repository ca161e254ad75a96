"""Revisits (回访): follow-up contacts scheduled and completed."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.schemas import RevisitCompleteIn, RevisitIn

router = APIRouter(prefix="/v1/revisits", tags=["revisits"])


@router.post("", status_code=201)
def schedule_revisit(body: RevisitIn, rt: RuntimeDep, now: Now, request: Request,
                     caller: Annotated[Caller, Depends(allow("agent"))], key: IdempotencyKey = None):
    """Schedule a follow-up contact with a customer."""
    revisit_id = body.revisit_id or new_id()
    occurred_at = body.when(now)
    return record(rt, caller, key, request, body, lambda hooks: rt.app.schedule_revisit(
        revisit_id, customer_id=body.customer_id, department_id=body.department_id,
        reason=body.reason, complaint_id=body.complaint_id, due_at=body.due_at,
        occurred_at=occurred_at, now=now, hooks=hooks))


@router.post("/{revisit_id}/complete", status_code=201)
def complete_revisit(revisit_id: str, body: RevisitCompleteIn, rt: RuntimeDep, now: Now,
                     request: Request, caller: Annotated[Caller, Depends(allow("agent"))],
                     key: IdempotencyKey = None):
    """Record the outcome of a revisit."""
    occurred_at = body.when(now)
    return record(rt, caller, key, request, body, lambda hooks: rt.app.complete_revisit(
        revisit_id, body.outcome, body.satisfaction, body.notes, occurred_at, now, hooks=hooks))
