"""A store written by an earlier release keeps loading, and grows with events of this one.

`tests/fixtures/legacy_store.copy` holds the events table (with each row's topic,
state, recorded_at and hash as stored), the personal-data keys and the chain head of
a store that the code of commit 3b53c04 wrote, when topics were Python paths;
`legacy_store.json` holds what that release showed for it. `make_legacy_store.py`
beside them says how both were made.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from csm.domain.event_types import LEGACY_TOPICS, TOPIC_OF, event_class
from csm.infra.chain import verify_chain
from csm.consumers.composition import Process as Runtime, start_runtime
from csm.infra.settings import Settings
from csm.projections.events import type_of_topic
from csm.projections.store import head_position
from bench.stack import LiveServer, new_database, settings_for
from tests.http_builders import created
from bench.topics import Topics
from tests.events_topic import check_events_topic, consume_all
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import wait_caught_up
from tests.read_model_checks import compare_with_rebuild

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "legacy_store.json").read_text())
SHOWN = {name: f["value"] for name, f in EXPECTED["figures"].items()}


def copy_blocks(text: str) -> list[tuple[str, str]]:
    """The file's `COPY … FROM stdin;` statements, each with the rows that follow it."""
    blocks = []
    for part in text.split("\\.\n"):
        if part.strip():
            header, _, rows = part.partition("\n")
            blocks.append((header.removesuffix(" FROM stdin;") + " FROM STDIN", rows))
    return blocks


def load_fixture(url: str) -> None:
    """The rows go in as they were stored: the chain trigger would give them new hashes."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        conn.execute("ALTER TABLE csm_events DISABLE TRIGGER USER")
        conn.execute("DELETE FROM csm_chain_head")
        for statement, rows in copy_blocks((FIXTURES / "legacy_store.copy").read_text()):
            with conn.cursor().copy(statement) as copy:
                copy.write(rows)
        conn.execute("ALTER TABLE csm_events ENABLE TRIGGER USER")
        conn.execute("SELECT setval(pg_get_serial_sequence('csm_events', 'notification_id'), "
                     "max(notification_id)) FROM csm_events")


def started_on_fixture(settings: Settings) -> Runtime:
    start_runtime(settings).close()  # this release's schema: the events table, the chain
    load_fixture(settings.database_url)
    return start_runtime(settings)


@pytest.fixture
def legacy(pg_server, tmp_path):
    """This release started on the loaded store, its projectors running, its API served."""
    rt = started_on_fixture(settings_for(new_database(pg_server), tmp_path))
    rt.start_projectors()
    server = LiveServer(rt)
    yield rt, server
    server.stop()
    rt.close()


def projected(rt: Runtime, timeout: float = 60) -> int:
    """Waits until every projection has applied every stored event; the head it reached."""
    head, deadline = head_position(rt.pool), time.monotonic() + timeout
    with rt.pool.connection() as conn:
        while conn.execute("SELECT min(position) AS p FROM csm_read.projection_status"
                           ).fetchone()["p"] < head:
            assert time.monotonic() < deadline, "the projections did not reach the head"
            time.sleep(0.05)
    return head


def figures(rt: Runtime) -> dict:
    with rt.pool.connection() as conn:
        return {name: next(iter(conn.execute(f["sql"]).fetchone().values()))
                for name, f in EXPECTED["figures"].items()}


def aggregates(rt: Runtime) -> dict[str, Any]:
    """Every stream of the store, read back through the application from its stored rows
    (asking for the last version passes the application's cache by)."""
    with rt.pool.connection() as conn:
        last = conn.execute("SELECT originator_id AS id, max(originator_version) AS v "
                            "FROM csm_events GROUP BY 1 ORDER BY 1").fetchall()
    return {r["id"]: rt.app.repository.get(r["id"], version=r["v"]) for r in last}


def streams(rt: Runtime) -> dict[str, list]:
    """Each stream's kind and version."""
    return {i: [type(a).__name__, a.version] for i, a in aggregates(rt).items()}


def stored_rows(rt: Runtime, after: int = 0) -> list[dict]:
    with rt.pool.connection() as conn:
        return conn.execute("SELECT notification_id, originator_id, originator_version, topic, "
                            "state, recorded_at FROM csm_events WHERE notification_id > %s "
                            "ORDER BY notification_id", (after,)).fetchall()


def test_the_fixture_holds_every_topic_the_previous_release_wrote(legacy):
    rt, _ = legacy
    topics = {r["topic"] for r in stored_rows(rt)}

    assert topics == set(EXPECTED["topics"]) == set(LEGACY_TOPICS)
    assert set(map(event_class, topics)) == {
        cls for cls, topic in TOPIC_OF.items() if topic not in NEWER_THAN_THE_FIXTURE}


# Event types added after the release that wrote the fixture (waits on the customer).
NEWER_THAN_THE_FIXTURE = {"complaint.awaiting_customer", "complaint.customer_replied"}


def test_every_stream_of_a_legacy_store_loads_through_the_application(legacy):
    rt, _ = legacy

    loaded = aggregates(rt)

    assert {i: [type(a).__name__, a.version] for i, a in loaded.items()} == EXPECTED["streams"]
    assert {c: {"name": loaded[c].name, "email": loaded[c].email}
            for c in EXPECTED["personal"]} == EXPECTED["personal"]


def test_every_read_model_built_from_a_legacy_store_shows_what_the_previous_release_did(legacy):
    rt, _ = legacy

    assert projected(rt) == EXPECTED["head"]
    assert figures(rt) == SHOWN
    problems, _, at = compare_with_rebuild(rt)
    assert (problems, at) == ([], EXPECTED["head"])


def test_the_hash_chain_of_a_legacy_store_verifies_as_stored(legacy):
    rt, server = legacy
    head = EXPECTED["head"]

    report = verify_chain(rt.pool, rt.audit).as_dict()
    with server.client("auditor") as auditor:
        answer = auditor.get("/v1/audit/verify").json()
        signed = auditor.get("/v1/audit/checkpoints").json()["items"]

    assert {k: report[k] for k in EXPECTED["chain"]} == EXPECTED["chain"]
    # Written before events were sealed: covered by the checkpoint this release signed when
    # it first started on the store, and sealed from the position after it on.
    assert [(c["kind"], c["position"]) for c in signed] == [("upgrade", head)]
    assert (report["sealed_from"], report["checkpoints_checked"]) == (head + 1, 1)
    assert (answer["ok"], answer["events_checked"], answer["sealed_from"]) == (True, head,
                                                                               head + 1)


def test_kafka_carries_a_legacy_store_under_event_types_to_the_projectors(pg_server, kafka_broker,
                                                                         tmp_path):
    topics = Topics.fresh("legacy")
    topics.create(kafka_broker.bootstrap_servers)
    rt = started_on_fixture(kafka_settings(new_database(pg_server), tmp_path, kafka_broker,
                                           topics))
    try:
        rt.start_kafka_parts({"relay", "project"})
        wait_caught_up(rt.pool, topics.events, timeout=120)
        report = check_events_topic(rt.pool, kafka_broker.bootstrap_servers, topics.events)
        types = {}
        for record in consume_all(kafka_broker.bootstrap_servers, topics.events):
            m = orjson.loads(record.value)
            if "event_id" in m:
                types[m["event_id"]] = m["type"]
        shown = figures(rt)
    finally:
        rt.close()

    assert report.problems == []
    assert dict(Counter(types.values())) == EXPECTED["events_by_type"]
    assert shown == SHOWN


def test_events_recorded_on_a_legacy_store_are_stored_by_type_and_old_and_new_load(legacy):
    rt, server = legacy
    before, old = SHOWN, EXPECTED["streams"]
    with server.client("admin") as admin, server.client("auditor") as auditor:
        created(admin.post("/v1/complaints/cmp-01/acknowledge", json={}))
        created(admin.post("/v1/complaints/cmp-01/resolve", json={"resolution": "Replaced"}))
        created(admin.post("/v1/customers", json={"customer_id": "cus-new", "name": "New One"}))
        created(admin.post("/v1/feedback", json={
            "feedback_id": "fb-new", "customer_id": "cus-new", "channel": "web",
            "kind": "complaint", "department_id": "dep-billing", "text": "Charged twice"}))
        created(admin.put("/v1/policy", json={"points": {"escalation": -4}}))
        created(admin.post("/v1/surveys/srv-closure/responses", json={
            "response_id": "resp-new", "customer_id": "cus-02", "channel": "web",
            "answers": [{"question_id": "q-solved", "value": 5}]}))
        created(admin.post("/v1/customers/cus-05/erase", json={}))
        timeline = auditor.get("/v1/audit/streams/cmp-01/events").json()["items"]
    new_rows = stored_rows(rt, after=EXPECTED["head"])
    resolved_at = old["cmp-01"][1] + 2

    assert [r["topic"] for r in new_rows] == [
        "complaint.acknowledged", "complaint.resolved", "revisit.scheduled",
        "customer.registered", "feedback.submitted", "complaint.opened", "policy.republished",
        "survey.answered", "customer.erased"]
    assert not any(b"originator_topic" in bytes(r["state"]) for r in new_rows)
    assert [e["type"] for e in timeline] == [type_of_topic(r["topic"]) for r in stored_rows(rt)
                                             if r["originator_id"] == "cmp-01"]
    assert streams(rt) == {
        **old, "cmp-01": ["Complaint", resolved_at], "$policy": ["Policy", old["$policy"][1] + 1],
        "cus-05": ["Customer", old["cus-05"][1] + 1],
        f"revisit:cmp-01:{resolved_at}": ["Revisit", 1], "cus-new": ["Customer", 1],
        "fb-new": ["Feedback", 1], "fb-new:complaint": ["Complaint", 1],
        "resp-new": ["SurveyResponse", 1]}
    assert aggregates(rt)["cus-05"].name is None

    assert projected(rt) == EXPECTED["head"] + len(new_rows)
    after = figures(rt)
    # cmp-01 left `open` for `resolved`, and the new complaint took its place among the open
    status = before["complaints_by_status"]
    assert after["complaints_by_status"] == {**status, "resolved": status["resolved"] + 1}
    assert (after["backlog"], after["survey_responses"]) == (
        before["backlog"] + 1, before["survey_responses"] + 1)
    problems, _, _ = compare_with_rebuild(rt)
    assert problems == []
    chain = verify_chain(rt.pool, rt.audit)
    assert (chain.ok, chain.events_checked, chain.sealed_from) == (
        True, EXPECTED["head"] + len(new_rows), EXPECTED["head"] + 1)
