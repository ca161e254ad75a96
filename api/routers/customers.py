"""Customers: registration, erasure, and their record (personal data for agents and admins)."""
from typing import Annotated

from fastapi import APIRouter, Depends

from csm.api.answers import CustomerRecord
from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.deps import Caller, RuntimeDep, allow
from csm.api.openapi import CREATE, RECORD
from csm.api.path_ids import PathId
from csm.api.schemas import CustomerIn, EraseIn
from csm.domain import commands as c
from csm.domain.customer import Customer

router = APIRouter(prefix="/v1/customers", tags=["customers"])
MASK = "***"


add_command_routes(router, [
    CommandRoute("register_customer", "", c.RegisterCustomer, CustomerIn, ("channel", "agent"),
                 "Register a customer (records customer.registered; personal data encrypted).",
                 responses=CREATE, new_ids=("customer_id",)),
    CommandRoute("erase_customer", "/{customer_id}/erase", c.EraseCustomer, EraseIn, (),
                 "Erase a customer's personal data by destroying their key (records "
                 "customer.erased).", optional_body=True),
])


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
