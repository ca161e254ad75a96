"""Revisits (回访): follow-up contacts scheduled and completed."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.answers import CommandAnswer
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND
from csm.api.path_ids import PathId
from csm.api.schemas import RevisitCompleteIn, RevisitIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/revisits", tags=["revisits"])


@router.post("", status_code=201, response_model=CommandAnswer, responses=COMMAND)
def schedule_revisit(body: RevisitIn, rt: RuntimeDep, now: Now, request: Request,
                     caller: Annotated[Caller, Depends(allow("agent"))], key: IdempotencyKey = None):
    """Schedule a follow-up contact with a customer."""
    return record(rt, caller, key, request, body, c.ScheduleRevisit, now,
                  revisit_id=body.revisit_id or new_id())


@router.post("/{revisit_id}/complete", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def complete_revisit(revisit_id: PathId, body: RevisitCompleteIn, rt: RuntimeDep, now: Now,
                     request: Request, caller: Annotated[Caller, Depends(allow("agent"))],
                     key: IdempotencyKey = None):
    """Record the outcome of a revisit."""
    return record(rt, caller, key, request, body, c.CompleteRevisit, now,
                  revisit_id=revisit_id)
