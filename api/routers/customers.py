"""Customers: registration, erasure, and their record (personal data for agents and admins)."""
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from csm.api.answers import CommandAnswer, CustomerRecord
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND, CREATE, RECORD
from csm.api.path_ids import PathId
from csm.api.schemas import CustomerIn, EraseIn
from csm.domain import commands as c
from csm.domain.customer import Customer

router = APIRouter(prefix="/v1/customers", tags=["customers"])
MASK = "***"


@router.post("", status_code=201, response_model=CommandAnswer, responses=CREATE)
def register_customer(body: CustomerIn, rt: RuntimeDep, now: Now, request: Request,
                      caller: Annotated[Caller, Depends(allow("channel", "agent"))],
                      key: IdempotencyKey = None):
    """Register a customer (records customer.registered; personal data encrypted)."""
    return record(rt, caller, key, request, body, c.RegisterCustomer, now,
                  customer_id=body.customer_id or new_id())


@router.post("/{customer_id}/erase", status_code=201, response_model=CommandAnswer,
             responses=COMMAND)
def erase_customer(customer_id: PathId, rt: RuntimeDep, now: Now, request: Request,
                   caller: Annotated[Caller, Depends(allow())],
                   body: Annotated[EraseIn | None, Body()] = None, key: IdempotencyKey = None):
    """Erase a customer's personal data by destroying their key (records customer.erased)."""
    return record(rt, caller, key, request, body, c.EraseCustomer, now,
                  customer_id=customer_id)


@router.get("/{customer_id}", response_model=CustomerRecord, responses=RECORD)
def get_customer(customer_id: PathId, rt: RuntimeDep,
                 caller: Annotated[Caller, Depends(allow("agent", "manager", "auditor"))]):
    """A customer's record; name, e-mail and phone masked for managers and auditors."""
    c = rt.app.get_as(customer_id, Customer, "customer")
    show = caller.sees_personal_data and not c.erased

    def personal(value: str | None) -> str | None:
        return value if show or value is None else MASK
    return {"customer_id": c.id, "name": personal(c.name), "email": personal(c.email),
            "phone": personal(c.phone), "tier": c.tier, "segment": c.segment,
            "erased": c.erased, "version": c.version}
