"""Departments: who owns complaints and earns points."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.schemas import DepartmentIn

router = APIRouter(prefix="/v1/departments", tags=["departments"])


@router.post("", status_code=201)
def register_department(body: DepartmentIn, rt: RuntimeDep, now: Now, request: Request,
                        caller: Annotated[Caller, Depends(allow())], key: IdempotencyKey = None):
    """Register a department (records department.registered)."""
    department_id = body.department_id or new_id()
    return record(rt, caller, key, request, body, lambda hooks: rt.app.register_department(
        department_id, body.name, body.satisfaction_target, now, hooks=hooks))
