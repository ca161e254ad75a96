"""The OpenAPI document tells the truth about answers, errors and keys; its pages work offline."""
from __future__ import annotations

import re

import httpx
import pytest

from csm.api.errors import PROBLEM

PAGES = ("/docs", "/redoc")
LINKED = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")


@pytest.fixture(scope="module")
def document(live) -> dict:
    return httpx.get(f"{live.url}/openapi.json").json()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", path, operation


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_pages_load_everything_from_csm_itself(live, page):
    response = httpx.get(f"{live.url}{page}")
    assert response.status_code == 200
    assert "://" not in response.text, "the page names an outside address"
    linked = [a or b for a, b in LINKED.findall(response.text)]
    assert "/openapi.json" in linked and any(url.endswith(".js") for url in linked)
    for url in linked:
        assert url.startswith("/"), url
        assert httpx.get(f"{live.url}{url}").status_code == 200, url


def test_every_answer_has_a_schema_that_says_something(document):
    empty = [f"{name} {status}" for name, _, op in operations(document)
             for status, answer in op["responses"].items()
             for content in answer.get("content", {}).values() if not content.get("schema")]
    assert empty == []
    assert "HTTPValidationError" not in str(document)


def test_every_error_an_operation_answers_is_documented_as_problem_json(document):
    for name, path, op in operations(document):
        errors = {s: a for s, a in op["responses"].items() if int(s) >= 400 and path != "/ready"}
        for status, answer in errors.items():
            assert list(answer["content"]) == [PROBLEM], f"{name} {status}"
            assert answer["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
        if path.startswith("/v1/"):
            assert {"401", "403", "503"} <= set(errors), name
        if "requestBody" in op:
            assert {"413", "422"} <= set(errors), name
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_every_v1_operation_asks_for_the_bearer_key_and_no_other_does(document):
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for name, path, op in operations(document):
        expected = [{"bearer": []}] if path.startswith("/v1/") else None
        assert op.get("security") == expected, name
        assert all(p["name"].lower() != "authorization" for p in op.get("parameters", ())), name


def test_metrics_are_documented_as_prometheus_text(document, live):
    documented = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(documented) == ["text/plain"]
    assert httpx.get(f"{live.url}/metrics").headers["content-type"].startswith("text/plain")
