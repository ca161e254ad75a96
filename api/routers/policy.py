"""The policy: publish a new version; read the current one and its history."""
from typing import Annotated

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, Request

from csm.api.answers import PolicyInForce, PolicyPublished
from csm.api.commanding import record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import CREATE, SERVICE
from csm.domain import commands as c
from csm.domain.policy import DEFAULT_RULES, POLICY_STREAM_ID, PolicyRules

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.put("", status_code=201, response_model=PolicyPublished, responses=CREATE)
async def publish_policy(body: PolicyRules, rt: RuntimeDep, now: Now, request: Request,
                         caller: Annotated[Caller, Depends(allow())],
                         key: IdempotencyKey = None):
    """Publish a new policy version; it applies to events recorded after it."""
    return await record(rt, caller, key, request, body, c.PublishPolicy, now,
                        rules=body, by=caller.role)


@router.get("", response_model=PolicyInForce, responses=SERVICE)
def get_policy(rt: RuntimeDep,
               caller: Annotated[Caller, Depends(allow("manager", "auditor", "agent"))]):
    """The policy in force and every earlier version with when it was published."""
    try:
        history = [{"version": e.originator_version, "published_at": e.timestamp,
                    "rules": e.rules} for e in rt.app.events.get(POLICY_STREAM_ID)]
    except AggregateNotFoundError:
        history = []
    current = history[-1] if history else {
        "version": 0, "published_at": None, "rules": DEFAULT_RULES.model_dump(mode="json")}
    return {**current, "history": history}
