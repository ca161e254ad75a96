"""The records a run refers to, made once over HTTP: departments, customers, surveys."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

QUESTIONS = [
    {"question_id": "quality", "dimension": "product_quality", "scale": "likert5"},
    {"question_id": "attitude", "dimension": "service_attitude", "scale": "likert5"},
    {"question_id": "expect", "dimension": "expectation", "scale": "expectation5"},
    {"question_id": "rival", "dimension": "competitor", "scale": "competitor5"},
    {"question_id": "nps", "dimension": "recommendation", "scale": "nps10"},
]


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


@dataclass
class World:
    """Records made once over HTTP that the load refers to."""
    departments: list[str]
    customers: list[str]
    surveys: list[str]
    resolved: list[str] = field(default_factory=list)   # complaints only inbound reopens
    revisits: list[str] = field(default_factory=list)   # revisits only inbound completes
    open_complaint: str | None = None


def created(r: httpx.Response, what: str) -> dict[str, Any]:
    assert r.status_code == 201, (what, r.status_code, r.text[:500])
    return r.json()


def make_world(c: httpx.Client, tag: str, *, reopenable: int = 0, revisits: int = 0) -> World:
    deps = [created(c.post("/v1/departments", json={"department_id": f"{tag}-dep-{i}",
                                                     "name": n}), "department")["id"]
            for i, n in enumerate(("After-sales", "Delivery", "Billing"))]
    customers = [created(c.post("/v1/customers", json={
        "customer_id": f"{tag}-cus-{i}", "name": f"Customer {i}", "email": f"c{i}@example.com",
        "tier": "high_value" if i % 3 == 0 else "standard"}), "customer")["id"]
        for i in range(12)]
    surveys = [created(c.post("/v1/surveys", json={"survey_id": f"{tag}-srv-{i}", "name": n,
                                                   "questions": QUESTIONS}), "survey")["id"]
               for i, n in enumerate(("Quarterly", "After service"))]
    w = World(deps, customers, surveys)
    for i in range(reopenable):
        cid = created(c.post("/v1/complaints", json={
            "complaint_id": f"{tag}-reo-{i}", "channel": "web", "department_id": deps[i % 3],
            "severity": "medium", "description": "Leaks", "occurred_at": ago(30)}),
            "complaint")["id"]
        created(c.post(f"/v1/complaints/{cid}/acknowledge", json={"occurred_at": ago(29)}), "ack")
        created(c.post(f"/v1/complaints/{cid}/resolve", json={"resolution": "Fixed"}), "resolve")
        w.resolved.append(cid)
    for i in range(revisits):
        w.revisits.append(created(c.post("/v1/revisits", json={
            "revisit_id": f"{tag}-rev-{i}", "customer_id": customers[i % 12],
            "department_id": deps[i % 3], "reason": "periodic",
            "due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}), "revisit")["id"])
    return w


def survey_answer(rng: random.Random, w: World) -> dict[str, Any]:
    answers = [{"question_id": q["question_id"],
                "value": rng.randint(0, 10) if q["scale"] == "nps10" else rng.randint(1, 5)}
               for q in QUESTIONS if rng.random() < 0.8] or [{"question_id": "quality",
                                                              "value": 4}]
    return {"customer_id": rng.choice(w.customers + [None]),
            "department_id": rng.choice(w.departments), "channel": "web", "answers": answers,
            "occurred_at": ago(rng.uniform(0, 200))}
