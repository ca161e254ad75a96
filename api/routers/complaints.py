"""Complaints: open, acknowledge, assign, escalate, resolve, reopen, close; state and timeline."""
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from csm.api.answers import CommandAnswer, ComplaintOpened, ComplaintRecord, Escalated, Reopened
from csm.api.commanding import new_id, record
from csm.api.consistency import Snapshot, aggregate_in
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND, RECORD
from csm.api.path_ids import PathId
from csm.api.schemas import AcknowledgeIn, AssignIn, CloseIn, ComplaintIn, EscalateIn, ReopenIn, ResolveIn
from csm.api.timeline import public_event
from csm.domain import commands as c
from csm.domain.complaint import Complaint

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])
Agent = Annotated[Caller, Depends(allow("agent"))]
AgentOrManager = Annotated[Caller, Depends(allow("agent", "manager"))]
ChannelOrAgent = Annotated[Caller, Depends(allow("channel", "agent"))]


@router.post("", status_code=201, response_model=ComplaintOpened, responses=COMMAND)
def open_complaint(body: ComplaintIn, rt: RuntimeDep, now: Now, request: Request,
                   caller: ChannelOrAgent, key: IdempotencyKey = None):
    """Open a complaint; the answer carries its acknowledge and resolve due times."""
    return record(rt, caller, key, request, body, c.OpenComplaint, now,
                  complaint_id=body.complaint_id or new_id())


@router.post("/{complaint_id}/acknowledge", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def acknowledge(complaint_id: PathId, rt: RuntimeDep, now: Now, request: Request, caller: Agent,
                body: Annotated[AcknowledgeIn | None, Body()] = None, key: IdempotencyKey = None):
    """Acknowledge an open complaint (a late one first records its SLA breach)."""
    return record(rt, caller, key, request, body, c.AcknowledgeComplaint, now,
                  complaint_id=complaint_id)


@router.post("/{complaint_id}/assign", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def assign(complaint_id: PathId, body: AssignIn, rt: RuntimeDep, now: Now, request: Request,
           caller: AgentOrManager, key: IdempotencyKey = None):
    """Assign a handler, and optionally move the complaint to another department."""
    return record(rt, caller, key, request, body, c.AssignComplaint, now,
                  complaint_id=complaint_id)


@router.post("/{complaint_id}/escalate", status_code=201, response_model=Escalated,
             responses=COMMAND)
def escalate(complaint_id: PathId, body: EscalateIn, rt: RuntimeDep, now: Now, request: Request,
             caller: AgentOrManager, key: IdempotencyKey = None):
    """Raise the escalation level by one (at most 3)."""
    return record(rt, caller, key, request, body, c.EscalateComplaint, now,
                  complaint_id=complaint_id)


@router.post("/{complaint_id}/resolve", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def resolve(complaint_id: PathId, body: ResolveIn, rt: RuntimeDep, now: Now, request: Request,
            caller: Agent, key: IdempotencyKey = None):
    """Resolve an acknowledged or reopened complaint (a late one first records its breach)."""
    return record(rt, caller, key, request, body, c.ResolveComplaint, now,
                  complaint_id=complaint_id)


@router.post("/{complaint_id}/reopen", status_code=201, response_model=Reopened,
             responses=COMMAND)
def reopen(complaint_id: PathId, body: ReopenIn, rt: RuntimeDep, now: Now, request: Request,
           caller: ChannelOrAgent, key: IdempotencyKey = None):
    """The customer rejects the resolution: reopen with a new resolve due time."""
    return record(rt, caller, key, request, body, c.ReopenComplaint, now,
                  complaint_id=complaint_id)


@router.post("/{complaint_id}/close", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def close(complaint_id: PathId, rt: RuntimeDep, now: Now, request: Request, caller: Agent,
          body: Annotated[CloseIn | None, Body()] = None, key: IdempotencyKey = None):
    """Close a resolved complaint, with the customer's satisfaction."""
    return record(rt, caller, key, request, body, c.CloseComplaint, now,
                  complaint_id=complaint_id)


@router.get("/{complaint_id}", response_model=ComplaintRecord, responses=RECORD)
def get_complaint(complaint_id: PathId, rt: RuntimeDep,
                  caller: Annotated[Caller, Depends(allow("agent", "manager", "auditor"))],
                  snapshot: Snapshot = None):
    """The complaint's current state (or at a snapshot's as_of) and its timeline of events."""
    c = aggregate_in(rt, snapshot, complaint_id, Complaint, "complaint")
    timeline = [public_event(e, caller) for e in rt.app.events.get(complaint_id, lte=c.version)]
    return {"complaint_id": c.id, "status": c.status, "department_id": c.department_id,
            "handler": c.handler, "severity": c.severity, "escalation_level": c.level,
            "customer_id": c.customer_id, "opened_at": c.opened_at,
            "acknowledge_due": c.acknowledge_due, "resolve_due": c.resolve_due,
            "reopen_count": c.reopen_count, "version": c.version, "timeline": timeline}
