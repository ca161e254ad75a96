"""The FastAPI application: routers, errors, middleware, bound to one runtime."""
from __future__ import annotations

from fastapi import FastAPI

from csm.api import errors
from csm.api.middleware import RequestContext
from csm.api.routers import (
    audit,
    complaints,
    customers,
    departments,
    feedback,
    health,
    improvements,
    policy,
    reports,
    revisits,
    surveys,
)
from csm.infra.runtime import Runtime

# reports first: its fixed paths (/complaints/backlog) must win over /complaints/{id}.
ROUTERS = [health, reports, departments, customers, feedback, complaints, surveys, revisits,
           improvements, policy, audit]


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="csm", version="0.1.0",
                  description="Customer satisfaction management: every interaction an event.")
    app.state.runtime = runtime
    for module in ROUTERS:
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(RequestContext)
    return app
