"""An event a projection cannot apply, put straight into the store as a bug would: that
projection stops alone, says so, and resumes by itself once the cause is gone."""
from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, datetime

import projections.runner
from domain.department import Department
from projections.ledger import Ledger
from projections.registry import ALL
from projections.store import head_position
from tests.conftest import LiveServer, uid
from tests.read_model_checks import compare_with_rebuild

MARK = "NUL-GOES-HERE"


def record_as_a_bug_would(rt, aggregate, swap: tuple[bytes, bytes]) -> int:
    """Stores the aggregate's new events through the recorder, past every check, with
    `swap` applied to the stored bytes; returns the position of the last."""
    stored = [rt.app.mapper.to_stored_event(e) for e in aggregate.collect_events()]
    stored = [dataclasses.replace(s, state=s.state.replace(*swap)) for s in stored]
    return rt.app.recorder.insert_events(stored)[-1]


def status_rows(rt) -> dict[str, dict]:
    with rt.pool.connection() as conn:
        return {r["name"]: r for r in conn.execute(
            "SELECT * FROM csm_read.projection_status").fetchall()}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.1)
    return found


def metric(text: str, name: str, projection: str) -> float:
    found = re.search(rf'^{name}{{projection="{projection}"}} (\S+)$', text, re.M)
    assert found, f"{name} for {projection} missing from /metrics"
    return float(found.group(1))


class Said:
    """The runner's log lines, kept (and passed on) to count them."""

    def __init__(self, log):
        self.log, self.lines = log, []

    def __getattr__(self, level):
        def say(event, **kw):
            self.lines.append(event)
            getattr(self.log, level)(event, **kw)
        return say


def traffic(c, department: str, n: int) -> None:
    for i in range(n):
        assert c.post("/v1/feedback", json={"channel": "web", "kind": "praise", "rating": 5,
                                            "department_id": department}).status_code == 201
        assert c.post("/v1/complaints", json={
            "channel": "hotline", "department_id": department, "severity": "low",
            "description": f"complaint {i}"}).status_code == 201


def test_a_projection_that_cannot_store_an_event_stops_alone_says_so_and_resumes_once_fixed(
        fresh_runtime, monkeypatch):
    rt = fresh_runtime
    said = Said(projections.runner.log)
    monkeypatch.setattr(projections.runner, "log", said)
    rt.start_projectors()
    live = LiveServer(rt)
    try:
        with live.client("admin") as c:
            department = uid("d-")
            assert c.post("/v1/departments", json={"department_id": department,
                                                   "name": "Sales"}).status_code == 201
            traffic(c, department, 3)
            bad_id = uid("p-")
            bad = record_as_a_bug_would(
                rt, Department.register(bad_id, f"a{MARK}b", 80.0, datetime.now(UTC)),
                (MARK.encode(), b"\\u0000"))
            traffic(c, department, 3)
            head = head_position(rt.pool)

            # The others reach the head; the ledger stays before the bad event, and says why.
            def stuck():
                rows = status_rows(rt)
                others = all(rows[n]["position"] == head for n in ALL if n != "ledger")
                return rows["ledger"] if others and rows["ledger"]["failed_position"] else None
            ledger = wait_for(stuck, 30, "the other projections at the head, the ledger failed")
            assert ledger["failed_position"] == bad
            assert ledger["failed_event_id"] == f"{bad_id}@1"
            assert ledger["position"] == bad - 1
            assert "NUL" in ledger["failed_error"]
            assert ledger["failures"] == 1

            ready = c.get("/ready")
            assert ready.status_code == 503, ready.text
            body = ready.json()
            assert body["status"] == "not_ready"
            named = [p for p in body["problems"] if p.startswith("projection ledger")]
            assert len(named) == 1 and f"{bad_id}@1" in named[0]
            assert f"position {bad}" in named[0] and "NUL" in named[0]
            row = next(p for p in body["projections"] if p["name"] == "ledger")
            assert row["failed"]["position"] == bad and row["lag"] == head - (bad - 1)
            assert all(p["lag"] == 0 and p["failed"] is None
                       for p in body["projections"] if p["name"] != "ledger")

            metrics = c.get("/metrics").text
            assert metric(metrics, "csm_projection_failed", "ledger") == 1
            assert metric(metrics, "csm_projection_failed_position", "ledger") == bad
            assert metric(metrics, "csm_projection_lag_events", "ledger") == head - (bad - 1)
            assert metric(metrics, "csm_projection_failures_total", "ledger") == 1
            assert metric(metrics, "csm_projection_failed", "complaints") == 0
            assert metric(metrics, "csm_projection_lag_events", "complaints") == 0

            # It is tried again with a backoff, and says so once, not once per attempt.
            wait_for(lambda: rt.projectors.runner.stopped["ledger"].attempts >= 3, 20,
                     "three attempts")
            assert status_rows(rt)["ledger"]["failures"] == 1
            assert said.lines.count("projection_failed") == 1

            # The code fixed: it resumes by itself, from the event it stopped at.
            original = Ledger.apply

            def fixed(self, ev, w):
                original(self, ev, w)
                for row in w.rows.get("departments", {}).values():
                    row["name"] = row["name"].replace("\x00", "")
            monkeypatch.setattr(Ledger, "apply", fixed)
            wait_for(lambda: status_rows(rt)["ledger"]["position"] == head, 40,
                     "the ledger back at the head")
            ledger = status_rows(rt)["ledger"]
            assert said.lines.count("projection_recovered") == 1
            assert said.lines.count("projection_failed") == 1
            assert ledger["failed_position"] is None and ledger["failed_error"] is None
            ready = c.get("/ready")
            assert ready.status_code == 200, ready.text
            assert metric(c.get("/metrics").text, "csm_projection_failed", "ledger") == 0
        with rt.pool.connection() as conn:
            assert conn.execute("SELECT name FROM csm_read.departments WHERE department_id = %s",
                                (bad_id,)).fetchone()["name"] == "ab"
        problems, counts, at = compare_with_rebuild(rt)
        assert at == head
        assert not problems, "\n".join(problems)
        assert counts["feedback_facts"] > 0 and counts["department_score_ledger"] > 0
    finally:
        live.stop()
