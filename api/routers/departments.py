"""Departments: who owns complaints and earns points."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.answers import CommandAnswer
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import CREATE
from csm.api.schemas import DepartmentIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/departments", tags=["departments"])


@router.post("", status_code=201, response_model=CommandAnswer, responses=CREATE)
def register_department(body: DepartmentIn, rt: RuntimeDep, now: Now, request: Request,
                        caller: Annotated[Caller, Depends(allow())], key: IdempotencyKey = None):
    """Register a department (records department.registered)."""
    return record(rt, caller, key, request, body, c.RegisterDepartment, now,
                  department_id=body.department_id or new_id())
