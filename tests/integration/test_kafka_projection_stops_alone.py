"""The Kafka-fed projector with an event one projection cannot store, put straight into the
store as a bug would: that projection stops alone, says so, and resumes once fixed."""
from __future__ import annotations

from datetime import UTC, datetime

from domain.department import Department
from projections.ledger import Ledger
from projections.registry import ALL
from projections.store import head_position
from tests.conftest import uid
from tests.integration.test_projection_stops_alone import (
    MARK,
    metric,
    record_as_a_bug_would,
    status_rows,
    traffic,
    wait_for,
)
from tests.kafka_fixtures import kafka_broker, running_stack  # noqa: F401  (session fixture)
from tests.read_model_checks import compare_with_rebuild


def test_a_kafka_fed_projection_that_cannot_store_an_event_stops_alone_and_resumes_once_fixed(
        pg_server, kafka_broker, tmp_path, monkeypatch):  # noqa: F811
    with running_stack(pg_server, kafka_broker, tmp_path, "stuck") as (rt, live, _, parts):
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

            def stuck():
                rows = status_rows(rt)
                others = all(rows[n]["position"] == head for n in ALL if n != "ledger")
                return rows["ledger"] if others and rows["ledger"]["failed_position"] else None
            ledger = wait_for(stuck, 60, "the other projections at the head, the ledger failed")
            assert (ledger["failed_position"], ledger["failed_event_id"]) == (bad, f"{bad_id}@1")
            assert ledger["position"] < bad and "NUL" in ledger["failed_error"]

            ready = c.get("/ready")
            assert ready.status_code == 503, ready.text
            named = [p for p in ready.json()["problems"] if p.startswith("projection ledger")]
            assert len(named) == 1 and f"{bad_id}@1" in named[0] and f"position {bad}" in named[0]
            assert not [p for p in ready.json()["problems"] if "ledger" not in p]
            metrics = c.get("/metrics").text
            assert metric(metrics, "csm_projection_failed", "ledger") == 1
            assert metric(metrics, "csm_projection_lag_events", "ledger") > 0
            assert metric(metrics, "csm_projection_lag_events", "satisfaction") == 0

            original = Ledger.apply

            def fixed(self, ev, w):
                original(self, ev, w)
                for row in w.rows.get("departments", {}).values():
                    row["name"] = row["name"].replace("\x00", "")
            monkeypatch.setattr(Ledger, "apply", fixed)
            wait_for(lambda: (r := status_rows(rt)["ledger"])["position"] == head
                     and r["failed_position"] is None, 60, "the ledger back at the head")
            assert c.get("/ready").status_code == 200
        problems, counts, at = compare_with_rebuild(rt)
        assert at == head and not problems, "\n".join(problems)
        assert parts.running()
