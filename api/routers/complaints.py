"""Complaints: open, acknowledge, assign, escalate, await the customer and the reply, resolve,
reopen, close; state and timeline."""
from typing import Annotated

from fastapi import APIRouter, Depends

from csm.api.answers import ComplaintOpened, ComplaintRecord, Escalated, Reopened, Replied
from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.consistency import Snapshot, aggregate_in
from csm.api.deps import Caller, RuntimeDep, allow
from csm.api.openapi import RECORD
from csm.api.path_ids import PathId
from csm.api.schemas import (
    AcknowledgeIn,
    AssignIn,
    AwaitCustomerIn,
    CloseIn,
    ComplaintIn,
    CustomerRepliedIn,
    EscalateIn,
    ReopenIn,
    ResolveIn,
)
from csm.api.timeline import public_event
from csm.domain import commands as c
from csm.domain.complaint import Complaint

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])


add_command_routes(router, [
    CommandRoute("open_complaint", "", c.OpenComplaint, ComplaintIn, ("channel", "agent"),
                 "Open a complaint; the answer carries its acknowledge and resolve due times.",
                 answer=ComplaintOpened, new_ids=("complaint_id",)),
    CommandRoute("acknowledge", "/{complaint_id}/acknowledge", c.AcknowledgeComplaint,
                 AcknowledgeIn, ("agent",),
                 "Acknowledge an open complaint (a late one first records its SLA breach).",
                 optional_body=True),
    CommandRoute("assign", "/{complaint_id}/assign", c.AssignComplaint, AssignIn,
                 ("agent", "manager"),
                 "Assign a handler, and optionally move the complaint to another department."),
    CommandRoute("escalate", "/{complaint_id}/escalate", c.EscalateComplaint, EscalateIn,
                 ("agent", "manager"), "Raise the escalation level by one (at most 3).",
                 answer=Escalated),
    CommandRoute("resolve", "/{complaint_id}/resolve", c.ResolveComplaint, ResolveIn, ("agent",),
                 "Resolve an acknowledged or reopened complaint (a late one first records its "
                 "breach)."),
    CommandRoute("reopen", "/{complaint_id}/reopen", c.ReopenComplaint, ReopenIn,
                 ("channel", "agent"),
                 "The customer rejects the resolution: reopen with a new resolve due time.",
                 answer=Reopened),
    CommandRoute("await_customer", "/{complaint_id}/await-customer", c.AwaitCustomer,
                 AwaitCustomerIn, ("agent",),
                 "Wait on the customer: the resolve clock stands still until the reply."),
    CommandRoute("customer_replied", "/{complaint_id}/customer-replied", c.CustomerReplied,
                 CustomerRepliedIn, ("channel", "agent"),
                 "The customer replied: the clock runs again, resolve_due moved later by the "
                 "open time spent waiting.", answer=Replied, optional_body=True),
    CommandRoute("close", "/{complaint_id}/close", c.CloseComplaint, CloseIn, ("agent",),
                 "Close a resolved complaint, with the customer's satisfaction.",
                 optional_body=True),
])


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
