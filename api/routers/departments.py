"""Departments: who owns complaints and earns points."""
from fastapi import APIRouter

from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.openapi import CREATE
from csm.api.schemas import DepartmentIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/departments", tags=["departments"])

add_command_routes(router, [
    CommandRoute("register_department", "", c.RegisterDepartment, DepartmentIn, (),
                 "Register a department (records department.registered).", responses=CREATE,
                 new_ids=("department_id",)),
])
