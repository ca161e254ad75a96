"""The Kafka-fed projector with an event one projection cannot store, put straight into the
store as a bug would: that projection stops alone, says so, and resumes once fixed."""
from __future__ import annotations

from tests.kafka_fixtures import kafka_broker, running_stack  # noqa: F401  (session fixture)
from tests.read_model_checks import compare_with_rebuild
from tests import unstorable_events as bug


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
