"""`csm import FILE`: inbound-shaped lines recorded in batches, as the inbound consumer would.

Real PostgreSQL; the consumer's own decision on records without a broker in between.
"""
from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from bench.inbound_messages import derived_id, envelope
from bench.stack import API_KEYS, new_database, settings_for
from csm.consumers.bulk_import import Summary, import_file
from csm.consumers.composition import start_runtime
from csm.consumers.inbound import Inbound
from csm.domain import commands as c
from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from tests.csm_process import CSM, ROOT, csm_env
from tests.http_builders import uid

T0 = datetime.now(UTC) - timedelta(days=3)
QUESTIONS = [{"question_id": "q1", "dimension": "product_quality", "scale": "likert5"},
             {"question_id": "q2", "dimension": "recommendation", "scale": "nps10"}]


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def given_world(app: Any, tag: str) -> None:
    """A department, a customer, a survey, an acknowledged and a resolved complaint."""
    app.handle(c.RegisterDepartment(department_id=f"{tag}-dep", name="After-sales",
                                    satisfaction_target=80, now=T0))
    app.handle(c.RegisterCustomer(customer_id=f"{tag}-cus", name="Wang Fang", email=None,
                                  phone=None, tier="high_value", segment=None, now=T0))
    app.handle(c.CreateSurvey(survey_id=f"{tag}-srv", name="Q4", trigger="periodic",
                              questions=QUESTIONS, now=T0))
    for k in (f"{tag}-old", f"{tag}-ack"):
        app.handle(c.OpenComplaint(complaint_id=k, customer_id=f"{tag}-cus", channel="web",
                                   department_id=f"{tag}-dep", category=None,
                                   severity="medium", description="Leaks", occurred_at=T0,
                                   now=T0))
        app.handle(c.AcknowledgeComplaint(complaint_id=k, occurred_at=T0, now=T0))
    app.handle(c.ResolveComplaint(complaint_id=f"{tag}-old", resolution="Seal replaced",
                                  occurred_at=T0, now=T0))


def mixed(tag: str) -> list[bytes]:
    """Messages of every kind the file may hold, each valid in this order."""
    dep, cus, k = f"{tag}-dep", f"{tag}-cus", f"{tag}-ack"
    return [
        envelope(f"{tag}-1", "customer.registered", {"customer_id": f"{tag}-new",
                                                     "name": "Li Na", "email": "li@example.com"},
                 occurred_at=at(1)),
        envelope(f"{tag}-2", "feedback.submitted", {"channel": "web", "kind": "praise",
                                                    "department_id": dep, "rating": 5,
                                                    "customer_id": cus}, occurred_at=at(2)),
        envelope(f"{tag}-3", "feedback.submitted", {"channel": "wechat", "kind": "complaint",
                                                    "department_id": dep, "severity": "high",
                                                    "text": "Late delivery"}, occurred_at=at(3)),
        envelope(f"{tag}-4", "complaint.opened", {"complaint_id": f"{tag}-k1",
                                                  "customer_id": f"{tag}-new",
                                                  "channel": "hotline", "department_id": dep,
                                                  "severity": "high", "description": "Broken"},
                 occurred_at=at(4)),
        envelope(f"{tag}-5", "complaint.awaiting_customer", {"complaint_id": k,
                                                             "reason": "photos, please"},
                 occurred_at=at(5)),
        envelope(f"{tag}-6", "complaint.customer_replied", {"complaint_id": k},
                 occurred_at=at(6)),
        envelope(f"{tag}-7", "survey.answered", {
            "survey_id": f"{tag}-srv", "customer_id": cus, "department_id": dep,
            "channel": "web", "answers": [{"question_id": "q1", "value": 4},
                                          {"question_id": "q2", "value": 9}]},
            occurred_at=at(7)),
        envelope(f"{tag}-8", "complaint.reopened", {"complaint_id": f"{tag}-old",
                                                    "reason": "Still leaking"}, occurred_at=at(8)),
    ]


def record(value: bytes) -> ConsumerRecord:
    return ConsumerRecord("csm.inbound", 0, -1, 0, 0, 0, None, value, [], None, -1, len(value), -1)


def importing(rt: Any, lines: list[bytes], batch: int = 1000) -> tuple[Summary, list[dict]]:
    """Imports the lines as a file would hold them; the summary and the rejects."""
    rejects = io.StringIO()
    summary = import_file(rt.pool, rt.app, io.BytesIO(b"\n".join(lines) + b"\n"), rejects,
                          batch)
    return summary, [json.loads(x) for x in rejects.getvalue().splitlines()]


def head(rt: Any) -> int:
    with rt.pool.connection() as conn:
        return conn.execute("SELECT coalesce(max(notification_id), 0) AS n FROM csm_events"
                            ).fetchone()["n"]


def first_event(rt: Any, stream_id: str) -> Any:
    return next(iter(rt.app.events.get(stream_id)))


# Recorded moments: when it happened is the message's, when it was recorded is not (a
# registration has no time of its own: it happens when it is recorded).
VOLATILE = {"timestamp", "now", "recorded_at", "created_on", "modified_on", "updated_at"}
RECORDING_TIME = {"Registered": {"occurred_at"}}


def picture(rt: Any) -> tuple[list[Any], dict[str, list[Any]]]:
    """Every stream's events (what they say, not when they were recorded) and every read
    model's rows, rebuilt from them."""
    with rt.pool.connection() as conn:
        ids = [r["originator_id"] for r in conn.execute(
            "SELECT DISTINCT originator_id FROM csm_events ORDER BY 1").fetchall()]
    streams = [(type(e).__name__, {k: v for k, v in vars(e).items() if k not in VOLATILE
                                   and k not in RECORDING_TIME.get(type(e).__name__, ())})
               for i in ids for e in rt.app.events.get(i)]
    rebuild(rt.pool, list(ALL.values()), rt.settings.zone)
    tables = {}
    with rt.pool.connection() as conn:
        for p in ALL.values():
            for t in p.tables:
                rows = conn.execute(f'SELECT * FROM csm_read."{t.name}"').fetchall()
                tables[t.name] = sorted(repr({k: v for k, v in r.items() if k not in VOLATILE})
                                        for r in rows)
    return streams, tables


@pytest.fixture
def other_runtime(pg_server, tmp_path):
    """A second database, for the same messages through the inbound consumer."""
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path / "other"))
    yield rt
    rt.close()


def test_an_import_records_what_the_inbound_consumer_records(fresh_runtime, other_runtime):
    tag = uid("eq-")
    for rt in (fresh_runtime, other_runtime):
        given_world(rt.app, tag)
    inbound = Inbound(other_runtime.pool, other_runtime.app, "unused:9092", "csm.inbound",
                      "csm.inbound.dlq", 1)
    inbound.handle_batch([record(v) for v in mixed(tag)])
    before = head(fresh_runtime)
    summary, rejects = importing(fresh_runtime, mixed(tag))
    assert (inbound.accepted, inbound.dead_lettered, inbound.retried) == (8, 0, 0)
    assert rejects == []
    assert (summary.lines, summary.recorded, summary.duplicates, summary.rejected) == (8, 8, 0, 0)
    assert summary.events == head(fresh_runtime) - before
    imported, consumed = picture(fresh_runtime), picture(other_runtime)
    assert imported[0] == consumed[0]
    assert imported[1] == consumed[1]
    assert all(imported[1][t] for t in ("complaints", "feedback_facts", "survey_responses"))
    assert len(imported[0]) == head(fresh_runtime)


def test_running_the_same_file_again_records_nothing_new(fresh_runtime):
    tag = uid("again-")
    given_world(fresh_runtime.app, tag)
    first, _ = importing(fresh_runtime, mixed(tag), batch=3)
    before = head(fresh_runtime)
    again, rejects = importing(fresh_runtime, mixed(tag), batch=3)
    assert first.recorded == 8 and rejects == []
    assert (again.lines, again.recorded, again.duplicates, again.rejected, again.events) == (
        8, 0, 8, 0, 0)
    assert head(fresh_runtime) == before


def test_bad_lines_are_reported_with_their_numbers_and_the_others_recorded(fresh_runtime):
    tag = uid("bad-")
    given_world(fresh_runtime.app, tag)
    good = mixed(tag)
    lines = [good[0], b'{"message_id": "x", "type": ', good[1],
             envelope(f"{tag}-u", "complaint.resolved", {"complaint_id": f"{tag}-old"}), b"",
             envelope(f"{tag}-r", "feedback.submitted", {"channel": "web", "kind": "praise",
                                                         "rating": 9}),
             envelope(f"{tag}-t", "complaint.customer_replied", {"complaint_id": f"{tag}-old"}),
             envelope(f"{tag}-1", "customer.registered", {"name": "Another body"}),
             *good[2:]]
    summary, rejects = importing(fresh_runtime, lines, batch=4)
    assert [(r["line"], r["message_id"]) for r in rejects] == [
        (2, None), (4, None), (6, f"{tag}-r"), (7, f"{tag}-t"), (8, f"{tag}-1")]
    reasons = [r["reason"] for r in rejects]
    assert reasons[0].startswith("not valid JSON (line 1, column")
    assert reasons[1].startswith("type: ") and "complaint.opened" in reasons[1]
    assert reasons[2] == "payload.rating: Input should be less than or equal to 5"
    assert "only a complaint awaiting the customer can take the customer's reply" in reasons[3]
    assert reasons[4] == f"message_id: '{tag}-1' was first used with another body"
    assert (summary.lines, summary.recorded, summary.duplicates, summary.rejected) == (13, 8, 0, 5)
    with fresh_runtime.pool.connection() as conn:
        keys = {r["key"] for r in conn.execute(
            "SELECT key FROM csm_idempotency WHERE scope = 'inbound' AND key LIKE %s",
            (f"{tag}-%",)).fetchall()}
    assert keys == {f"{tag}-{i}" for i in range(1, 9)}
    assert first_event(fresh_runtime, derived_id(f"{tag}-2")).rating == 5


def test_a_target_defined_further_down_is_found_at_the_end_of_the_file(fresh_runtime):
    tag = uid("fwd-")
    given_world(fresh_runtime.app, tag)
    dep, late = f"{tag}-dep", f"{tag}-late"
    lines = [
        envelope(f"{tag}-1", "complaint.opened", {
            "complaint_id": f"{tag}-k", "customer_id": late, "channel": "web",
            "department_id": dep, "severity": "low", "description": "Noisy"}),
        envelope(f"{tag}-2", "survey.answered", {
            "survey_id": f"{tag}-srv", "customer_id": late, "channel": "web",
            "answers": [{"question_id": "q1", "value": 2}]}),
        envelope(f"{tag}-3", "complaint.reopened", {"complaint_id": f"{tag}-nowhere",
                                                    "reason": "again"}),
        envelope(f"{tag}-4", "customer.registered", {"customer_id": late, "name": "Zhao"}),
    ]
    summary, rejects = importing(fresh_runtime, lines, batch=2)
    assert (summary.recorded, summary.retried, summary.rejected) == (3, 3, 1)
    assert rejects == [{"line": 3, "message_id": f"{tag}-3", "type": "complaint.reopened",
                        "reason": f"payload.complaint_id: complaint '{tag}-nowhere' not found, "
                                  "also after the last line of the file"}]
    opened, answered = (first_event(fresh_runtime, i) for i in (f"{tag}-k",
                                                                  derived_id(f"{tag}-2")))
    assert (opened.customer_id, answered.customer_id) == (late, late)


def test_csm_import_prints_its_summary_and_exits_1_when_a_line_was_rejected(
        pg_server, tmp_path):
    url, tag = new_database(pg_server), uid("cli-")
    rt = start_runtime(settings_for(url, tmp_path / "setup"))
    try:
        given_world(rt.app, tag)
    finally:
        rt.close()
    source, rejected = tmp_path / "history.jsonl", tmp_path / "rejects.jsonl"
    source.write_bytes(b"\n".join([*mixed(tag), b"[1, 2]"]) + b"\n")
    env = csm_env(tmp_path / "cli", url, CSM_API_KEYS=API_KEYS, CSM_LOG_LEVEL="WARNING")
    runs = [subprocess.run([*CSM, "import", *args, "--rejects", str(rejected)], env=env,
                           cwd=ROOT, capture_output=True, timeout=120, input=stdin)
            for args, stdin in ((["--batch", "5", str(source)], None),
                                (["-"], source.read_bytes()))]
    first, again = (json.loads(r.stdout.decode().strip().splitlines()[-1]) for r in runs)
    assert [r.returncode for r in runs] == [1, 1], runs[0].stderr[-2000:]
    assert {k: first[k] for k in ("lines", "recorded", "duplicates", "rejected")} == {
        "lines": 9, "recorded": 8, "duplicates": 0, "rejected": 1}
    assert first["events"] > 8 and first["events_per_s"] > 0 and first["seconds"] > 0
    assert {k: again[k] for k in ("recorded", "duplicates", "rejected", "events")} == {
        "recorded": 0, "duplicates": 8, "rejected": 1, "events": 0}
    assert [json.loads(x)["line"] for x in Path(rejected).read_text().splitlines()] == [9]
    assert b"import" in runs[0].stderr     # the progress bar
