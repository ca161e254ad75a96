"""The dashboard (`/dashboard`, HTML for a browser, signed in with an API key kept in a
cookie) and the monthly report (`GET /v1/reports/monthly`, HTML, with the key's header).

Both read the query API in-process with the caller's own key, so a page shows only what
that key may read, as the API answers it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from csm.api.dashboard import figures as gather
from csm.api.dashboard import pages, report
from csm.api.dashboard.figures import MONTH, Scope
from csm.api.dashboard.source import QueryFailed, QuerySource
from csm.api.deps import Caller, Now, allow, caller_for
from csm.api.errors import Forbidden, Unauthorized
from csm.api.openapi import QUERY
from csm.api.slices import IdFilter
from csm.domain.errors import NotFound

ROLES = ("manager", "auditor", "admin")
COOKIE = "csm_dashboard_key"
router = APIRouter(tags=["reports"])
pages_router = APIRouter(prefix=pages.BASE, include_in_schema=False)


def _signed_in(request: Request) -> str | None:
    """The key of a dashboard caller of an allowed role, from the cookie or the header."""
    header = request.headers.get("authorization")
    cookie = request.cookies.get(COOKIE)
    authorization = header or (f"Bearer {cookie}" if cookie else None)
    if authorization is None:
        return None
    caller = caller_for(request.app.state.runtime.api_keys, authorization)
    if caller.role not in ROLES:
        raise Forbidden(f"role '{caller.role}' may not see the dashboard; allowed: "
                        f"{', '.join(ROLES)}")
    return authorization[7:].strip()


def _scope(request: Request, period: str | None, department_id: str | None,
           now: datetime) -> Scope:
    """The month asked for, or the current one in csm's time zone."""
    if period:
        return Scope.parse(period, department_id)
    return Scope.current(now.astimezone(request.app.state.runtime.settings.zone), department_id)


async def _page(request: Request, render) -> Response:
    """A page for a signed-in caller; the sign-in form otherwise."""
    try:
        key = _signed_in(request)
    except (Unauthorized, Forbidden) as exc:
        answer = HTMLResponse(pages.sign_in(str(exc)), status_code=401)
        answer.delete_cookie(COOKIE, path=pages.BASE)
        return answer
    if key is None:
        return RedirectResponse(f"{pages.BASE}/login", status_code=303)
    async with QuerySource(request.app, key) as src:
        try:
            return HTMLResponse(await render(src))
        except ValueError as exc:  # a period that is not a month
            return HTMLResponse(pages.failure(str(exc)), status_code=422)
        except QueryFailed as exc:
            return HTMLResponse(pages.failure(str(exc)), status_code=exc.status)


@pages_router.get("")
async def dashboard(request: Request, now: Now, period: str | None = None,
                    department_id: str | None = None):
    async def render(src):
        scope = _scope(request, period, department_id, now)
        figures = await gather.overview(src, scope)
        if period is None and figures["current"] is None:  # early in a month: the last one
            figures = await gather.overview(src, scope.before())
        return pages.overview(figures)
    return await _page(request, render)


@pages_router.get("/report")
async def dashboard_report(request: Request, now: Now, period: str | None = None,
                           department_id: str | None = None):
    async def render(src):
        scope = _scope(request, period, department_id, now)
        return report.html(await gather.monthly(src, scope), now)
    return await _page(request, render)


@pages_router.get("/departments/{department_id}/ledger")
async def department_ledger(request: Request, department_id: str, now: Now,
                            period: str | None = None):
    async def render(src):
        scope = _scope(request, period, None, now)
        lines = await src.get(f"/v1/departments/{department_id}/ledger", limit=100000,
                              **scope.dates())
        return pages.ledger(scope, department_id, lines["items"])
    return await _page(request, render)


@pages_router.get("/streams/{stream_id}")
async def stream_events(request: Request, stream_id: str, now: Now,
                        version: int | None = None):
    async def render(src):
        scope = _scope(request, None, None, now)
        try:
            events = await src.get(f"/v1/audit/streams/{stream_id}/events")
        except QueryFailed as exc:
            if exc.status != 403:
                raise
            return pages.stream(scope, stream_id, None, version,
                                "Reading events needs a key of role auditor or admin.")
        return pages.stream(scope, stream_id, events["items"], version)
    return await _page(request, render)


@pages_router.get("/login")
def sign_in_form():
    return HTMLResponse(pages.sign_in())


@pages_router.post("/login")
async def sign_in(request: Request):
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    try:
        caller = caller_for(request.app.state.runtime.api_keys, f"Bearer {key}")
    except Unauthorized as exc:
        return HTMLResponse(pages.sign_in(str(exc)), status_code=401)
    if caller.role not in ROLES:
        return HTMLResponse(pages.sign_in(f"role '{caller.role}' may not see the dashboard"),
                            status_code=403)
    answer = RedirectResponse(pages.BASE, status_code=303)
    answer.set_cookie(COOKIE, key, path=pages.BASE, httponly=True, samesite="strict")
    return answer


@pages_router.post("/logout")
def sign_out():
    answer = RedirectResponse(f"{pages.BASE}/login", status_code=303)
    answer.delete_cookie(COOKIE, path=pages.BASE)
    return answer


Reader = Annotated[Caller, Depends(allow("manager", "auditor"))]


@router.get("/v1/reports/monthly", response_class=HTMLResponse, responses={
    **QUERY, 200: {"content": {"text/html": {}}, "description": "the report as HTML"}})
async def monthly_report(request: Request, caller: Reader, now: Now,
                         period: Annotated[str, Query(pattern=MONTH.pattern,
                                                      description="the month, YYYY-MM")],
                         department_id: IdFilter = None):
    """The month's report: satisfaction, NPS, dimensions, complaints by category, backlog,
    overdue complaints, survey response rates, improvement actions, points and why."""
    key = request.headers["authorization"][7:].strip()
    try:
        return HTMLResponse(await report.render(request.app, key,
                                                Scope.parse(period, department_id), now))
    except QueryFailed as exc:
        if exc.status == 404:
            raise NotFound(exc.detail) from None
        raise HTTPException(exc.status, exc.detail) from None
