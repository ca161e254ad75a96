"""Events put straight into the store as a bug would, with Kafka: one that a Kafka-fed
projection cannot store stops that projection alone; one the relay cannot read stops the
relay. Each says so, and goes on by itself once fixed."""
from __future__ import annotations

from datetime import UTC, datetime

import csm.consumers.relay
from csm.domain.department import Department
from csm.projections.events import decode_stored
from csm.projections.store import head_position
from tests import unstorable_events as bug
from tests.conftest import uid
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import running_stack
from tests.read_model_checks import compare_with_rebuild


def test_a_kafka_fed_projection_that_cannot_store_an_event_stops_alone_and_resumes_once_fixed(
        pg_server, kafka_broker, tmp_path, monkeypatch):  # noqa: F811
    with running_stack(pg_server, kafka_broker, tmp_path, "stuck") as (rt, live, _, parts):
        with live.client("admin") as c:
            bad, bad_id, head = bug.department_named_with_a_nul(rt, c)
            ledger = bug.ledger_stuck_the_others_at(rt, head, 60)
            assert (ledger["failed_position"], ledger["failed_event_id"]) == (bad, f"{bad_id}@1")
            # Nothing of the batch with the bad event is written: it stays below it.
            assert ledger["position"] < bad and "NUL" in ledger["failed_error"]

            ready = c.get("/ready")
            assert ready.status_code == 503, ready.text
            named = [p for p in ready.json()["problems"] if p.startswith("projection ledger")]
            assert len(named) == 1 and f"{bad_id}@1" in named[0] and f"position {bad}" in named[0]
            assert not [p for p in ready.json()["problems"] if "ledger" not in p]
            metrics = c.get("/metrics").text
            assert bug.metric(metrics, "csm_projection_failed", "ledger") == 1
            assert bug.metric(metrics, "csm_projection_lag_events", "ledger") > 0
            assert bug.metric(metrics, "csm_projection_lag_events", "satisfaction") == 0

            bug.fix_the_ledger(monkeypatch)
            bug.wait_for(lambda: (r := bug.status_rows(rt)["ledger"])["position"] == head
                     and r["failed_position"] is None, 60, "the ledger back at the head")
            assert c.get("/ready").status_code == 200
        problems, counts, at = compare_with_rebuild(rt)
        assert at == head and not problems, "\n".join(problems)
        assert parts.running()


def test_a_relay_that_cannot_publish_an_event_says_so_and_goes_on_once_it_can(
        pg_server, kafka_broker, tmp_path, monkeypatch):  # noqa: F811
    with running_stack(pg_server, kafka_broker, tmp_path, "relay") as (rt, live, _, parts):
        with live.client("admin") as c:
            bug.traffic(c, c.post("/v1/departments", json={"name": "Sales"}).json()["id"], 2)
            before = head_position(rt.pool)
            bug.wait_for(lambda: relayed(rt) == before, 60, "the relay at the head")
            bad = bug.record_as_a_bug_would(
                rt, Department.register(uid("p-"), "a-LONE-b", 80.0, datetime.now(UTC)),
                (b"-LONE-", b"\\ud800"))  # a lone surrogate: the reader cannot decode it
            assert bad == before + 1

            def named():
                r = c.get("/ready")
                return r.status_code == 503 and [p for p in r.json()["problems"]
                                                 if p.startswith("relay failed")]
            line = bug.wait_for(named, 30, "the relay named")[0]
            assert f"cannot publish the events after position {before}" in line
            assert "JSONDecodeError" in line
            with rt.pool.connection() as conn:
                part = conn.execute("SELECT state, details FROM csm_part_status WHERE part = "
                                    "'relay'").fetchone()
            assert part["state"] == "failed" and part["details"]["position"] == before

            # The reader fixed (here: it takes a lone surrogate for U+FFFD): it goes on alone.
            monkeypatch.setattr(csm.consumers.relay, "decode_stored", lambda *row: decode_stored(
                *row[:4], row[4].replace(b"\\ud800", b"\\ufffd")))
            bug.wait_for(lambda: c.get("/ready").status_code == 200, 60, "ready again")
            assert relayed(rt) == head_position(rt.pool)
        assert parts.running()


def relayed(rt) -> int:
    with rt.pool.connection() as conn:
        row = conn.execute("SELECT position FROM csm_relay_progress").fetchone()
    return row["position"] if row else 0
