"""Every route of the OpenAPI, sent with every role, no key and a wrong key, against the contract.

The table below is the contract's, not the code's: a route missing from it fails.
"""
from __future__ import annotations

import uuid

import httpx
import pytest

from csm.api.app import create_app
from csm.api.errors import PROBLEM

# The document the live server serves, read here to parametrize one test per route.
DOCUMENT = create_app(None).openapi()  # type: ignore[arg-type]
ROLES = ("admin", "agent", "channel", "manager", "auditor")
PUBLIC = {"GET /health", "GET /ready", "GET /metrics"}
READERS = ("manager", "auditor")
# Who besides admin (who may do everything) may call each route.
GRANTED: dict[str, tuple[str, ...]] = {
    "POST /v1/departments": (),
    "POST /v1/customers": ("channel", "agent"),
    "POST /v1/customers/{customer_id}/erase": (),
    "GET /v1/customers/{customer_id}": ("agent", *READERS),
    "POST /v1/feedback": ("channel", "agent"),
    "POST /v1/complaints": ("channel", "agent"),
    "POST /v1/complaints/{complaint_id}/acknowledge": ("agent",),
    "POST /v1/complaints/{complaint_id}/assign": ("agent", "manager"),
    "POST /v1/complaints/{complaint_id}/escalate": ("agent", "manager"),
    "POST /v1/complaints/{complaint_id}/resolve": ("agent",),
    "POST /v1/complaints/{complaint_id}/reopen": ("channel", "agent"),
    "POST /v1/complaints/{complaint_id}/close": ("agent",),
    "POST /v1/complaints/{complaint_id}/await-customer": ("agent",),
    "POST /v1/complaints/{complaint_id}/customer-replied": ("channel", "agent"),
    "POST /v1/surveys": (),
    "POST /v1/surveys/{survey_id}/invitations": ("agent",),
    "POST /v1/surveys/{survey_id}/responses": ("channel", "agent"),
    "POST /v1/revisits": ("agent",),
    "POST /v1/revisits/{revisit_id}/complete": ("agent",),
    "POST /v1/improvement-actions": ("manager",),
    "POST /v1/improvement-actions/{action_id}/complete": ("manager",),
    "POST /v1/improvement-actions/{action_id}/verify": ("manager",),
    "PUT /v1/policy": (),
    "GET /v1/policy": ("agent", *READERS),
    "GET /v1/satisfaction": READERS,
    "GET /v1/complaints/backlog": ("agent", *READERS),
    "GET /v1/complaints/stats": ("agent", *READERS),
    "GET /v1/complaints/{complaint_id}": ("agent", *READERS),
    "GET /v1/feedback/stats": READERS,
    "GET /v1/surveys/{survey_id}/stats": READERS,
    "GET /v1/departments/scores": READERS,
    "GET /v1/departments/{department_id}/ledger": READERS,
    "GET /v1/revisits/stats": READERS,
    "GET /v1/improvement-actions": READERS,
    "GET /v1/reports/monthly": READERS,
    "GET /v1/audit/streams/{stream_id}/events": ("auditor",),
    "GET /v1/audit/verify": ("auditor",),
    "GET /v1/audit/streams/{stream_id}/state": ("auditor",),
    "GET /v1/audit/checkpoints": ("auditor",),
    "GET /v1/audit/public-key": ("auditor",),
    "POST /v1/audit/snapshots": ("auditor",),
    "GET /v1/audit/snapshots": ("auditor",),
    "GET /v1/audit/snapshots/{snapshot_id}": ("auditor",),
    "DELETE /v1/audit/snapshots/{snapshot_id}": ("auditor",),
}
ROUTES = [f"{method.upper()} {path}" for path, methods in DOCUMENT["paths"].items()
          for method in methods]
# One field no route knows: an allowed caller is refused with 422 and nothing is recorded.
PROBE_BODY = {"roles_probe": True}


def send(live, route: str, authorization: str | None) -> httpx.Response:
    method, path = route.split(" ", 1)
    unknown = f"unknown-{uuid.uuid4().hex[:12]}"
    url = live.url + path.format_map({name: unknown for name in _path_names(path)})
    headers = {"Authorization": authorization} if authorization else {}
    body = PROBE_BODY if method in ("POST", "PUT") else None
    return httpx.request(method, url, headers=headers, json=body, timeout=60)


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.mark.parametrize("route", sorted(PUBLIC))
def test_health_readiness_and_metrics_need_no_key(live, route):
    assert send(live, route, None).status_code not in (401, 403)


@pytest.mark.parametrize("route", [r for r in ROUTES if r not in PUBLIC])
def test_each_role_gets_what_the_contract_grants_and_nobody_else(live, route):
    assert route in GRANTED, f"{route} is not in the contract's table of roles"
    allowed = {"admin", *GRANTED[route]}
    wrong = []
    for role in ROLES:
        status = send(live, route, f"Bearer key-{role}").status_code
        if role in allowed and status in (401, 403) or role not in allowed and status != 403:
            wrong.append((role, status))
    for who, authorization in (("no key", None), ("wrong key", "Bearer key-nobody")):
        r = send(live, route, authorization)
        if (r.status_code, r.headers.get("www-authenticate")) != (401, "Bearer"):
            wrong.append((who, r.status_code, r.headers.get("www-authenticate")))
        elif not r.headers["content-type"].startswith(PROBLEM):
            wrong.append((who, r.headers["content-type"]))
    assert wrong == [], f"{route}: allowed {sorted(allowed)}; answered otherwise: {wrong}"
