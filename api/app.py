"""The FastAPI application: routers, errors, middleware, docs, bound to one runtime."""
from __future__ import annotations

from fastapi import FastAPI

from csm.api import docs, errors, openapi
from csm.api.middleware import RequestContext
from csm.api.routers import (
    audit,
    complaints,
    customers,
    dashboard,
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
           improvements, policy, audit, dashboard]


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="csm", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Customer satisfaction management: every interaction an event. "
                  "Every `/v1` route needs `Authorization: Bearer <api key>`; errors are "
                  "`application/problem+json`.")
    app.state.runtime = runtime
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(dashboard.pages_router)
    errors.install(app)
    openapi.install(app)
    docs.install(app)
    app.add_middleware(RequestContext)
    return app
