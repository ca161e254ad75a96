"""Builders for HTTP test data: a department, a customer, a complaint, a survey."""
from __future__ import annotations

import uuid
from typing import Any


def uid(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def created(response) -> dict[str, Any]:
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()


def department(http, **fields) -> str:
    body = {"department_id": uid("dep-"), "name": "After-sales service", **fields}
    return created(http("admin").post("/v1/departments", json=body))["id"]


def customer(http, **fields) -> str:
    body = {"customer_id": uid("cus-"), "name": "Wang Fang", "email": "wang@example.com",
            "phone": "+86 10 1234 5678", **fields}
    return created(http("channel").post("/v1/customers", json=body))["id"]


def complaint(http, department_id: str, **fields) -> dict[str, Any]:
    body = {"complaint_id": uid("cmp-"), "channel": "hotline", "department_id": department_id,
            "severity": "medium", "description": "The washing machine leaks", **fields}
    return created(http("channel").post("/v1/complaints", json=body))


def survey(http, **fields) -> str:
    body = {"survey_id": uid("srv-"), "name": "Quarterly satisfaction", "questions": [
        {"question_id": "q1", "text": "Product quality?", "dimension": "product_quality",
         "scale": "likert5"},
        {"question_id": "q2", "text": "Recommend us?", "dimension": "recommendation",
         "scale": "nps10"},
        {"question_id": "q3", "text": "Versus expectation?", "dimension": "experience",
         "scale": "expectation5"}], **fields}
    return created(http("admin").post("/v1/surveys", json=body))["id"]
