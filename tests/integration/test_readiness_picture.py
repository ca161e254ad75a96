"""The readiness picture any process reads from PostgreSQL: heartbeats, the relay, the
inbound consumer, dead letters, the deadline watcher; and the health port of the parts."""
from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from csm.consumers.deadlines import DeadlineWatcher
from csm.domain.commands import RegisterDepartment
from csm.infra.health_server import HealthServer
from csm.infra.part_status import Heartbeat, count_dead_letters, ensure_health_tables
from csm.infra.readiness_metrics import render
from csm.consumers.composition import start_runtime
from csm.projections.complaints.projection import Complaints
from csm.projections.rebuild import ensure_read_models
from bench.stack import new_database, settings_for
from tests.unstorable_events import wait_for

LIMIT = 1.0


@pytest.fixture
def rt(pg_server, tmp_path):
    """A runtime of its own whose threshold is one second, heartbeats five a second."""
    runtime = start_runtime(settings_for(new_database(pg_server), tmp_path,
                                         csm_ready_max_lag_seconds=LIMIT,
                                         csm_heartbeat_seconds=0.2))
    yield runtime
    runtime.close()


def stall(heartbeat: Heartbeat) -> None:
    """Its thread stops writing, as in a process stopped with SIGSTOP; its rows stay."""
    heartbeat.stop_event.set()
    heartbeat.changed.set()
    heartbeat.thread.join(timeout=5)


def problems(rt) -> list[str]:
    return rt.readiness()[1]["problems"]


def test_a_part_no_instance_of_which_was_seen_within_the_threshold_is_named(rt):
    first = Heartbeat(rt.pool, 0.2)
    first.part("relay").update(position=7)
    wait_for(lambda: any(p["part"] == "relay" for p in rt.readiness()[1]["parts"]), 5,
             "the relay's heartbeat")
    assert rt.readiness()[0] == 200
    stall(first)
    named = wait_for(lambda: [p for p in problems(rt) if p.startswith("relay not seen")], 5,
                     "the stalled relay named")
    assert first.instance in named[0] and "at position 7" in named[0]
    assert rt.readiness()[0] == 503

    # Another instance of the part is alive: the stale one no longer makes it not ready.
    second = Heartbeat(rt.pool, 0.2)
    second.part("relay")
    wait_for(lambda: rt.readiness()[0] == 200, 5, "ready with a live relay")
    instances = {p["instance"] for p in rt.readiness()[1]["parts"] if p["part"] == "relay"}
    assert instances == {first.instance, second.instance}
    second.stop()
    first.stop()
    assert not [p for p in rt.readiness()[1]["parts"] if p["part"] == "relay"]


def test_a_part_that_reports_a_failure_is_named_with_its_error_until_it_recovers(rt):
    status = rt.part("inbound")
    status.update(partitions={"0": {"committed": 5, "end": 9, "lag": 4}})
    status.failed("", "broker unavailable: NoBrokersAvailable")
    named = wait_for(lambda: [p for p in problems(rt) if p.startswith("inbound failed")], 5,
                     "the failed inbound consumer named")
    assert "broker unavailable: NoBrokersAvailable" in named[0]
    assert rt.heartbeat.instance in named[0]
    body = rt.readiness()[1]
    assert body["inbound"]["partitions"] == {"0": {"committed": 5, "end": 9, "lag": 4}}
    assert 'csm_inbound_lag_messages{partition="0"} 4.0' in render(*rt.readiness()).decode()
    assert 'csm_part_failed{instance="%s",part="inbound"} 1.0' % rt.heartbeat.instance \
        in render(*rt.readiness()).decode()
    status.ok()
    wait_for(lambda: rt.readiness()[0] == 200, 5, "ready once recovered")


def test_a_deadline_watcher_that_stopped_scanning_is_named_with_its_last_scan(rt):
    ensure_read_models(rt.pool, [Complaints()], rt.settings.zone)  # where it finds candidates
    watcher = DeadlineWatcher(rt.pool, rt.app, 300, 0.2, status=rt.part("deadlines"))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    scanned = wait_for(lambda: (d := rt.readiness()[1]["deadlines"]) and d["last_scan_at"], 5,
                       "a scan")
    assert rt.readiness()[0] == 200
    assert 0 <= rt.readiness()[1]["deadlines"]["scan_seconds"] == 0.2
    stop.set()  # the watcher stops scanning; its process's heartbeat goes on
    thread.join(timeout=5)
    named = wait_for(lambda: [p for p in problems(rt) if p.startswith("deadlines last scanned")],
                     5, "the watcher named")
    assert "every 0.2 s" in named[0]
    text = render(*rt.readiness()).decode()
    stamp = float(re.search(r"^csm_deadlines_last_scan_timestamp_seconds (\S+)$", text,
                            re.M).group(1))
    assert abs(stamp - datetime.fromisoformat(str(scanned)).timestamp()) < 1
    age = float(re.search(r"^csm_deadlines_last_scan_age_seconds (\S+)$", text, re.M).group(1))
    assert age > LIMIT


def test_with_kafka_the_relay_is_judged_by_the_age_of_the_oldest_event_it_has_not_published(
        pg_server, tmp_path):
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path,
                                    kafka_bootstrap_servers="127.0.0.1:9",
                                    csm_ready_max_lag_seconds=LIMIT))
    try:
        for i in range(3):
            rt.app.handle(RegisterDepartment(department_id=f"d-{i}", name="Sales",
                                                satisfaction_target=80.0, now=datetime.now(UTC)))
        time.sleep(LIMIT + 0.2)
        code, body = rt.readiness()
        assert code == 503
        assert body["relay"]["position"] == 0 and body["relay"]["lag"] == 3
        assert body["relay"]["lag_seconds"] > LIMIT
        assert any(p.startswith("relay is 3 events behind the store, at position 0 of 3")
                   for p in body["problems"])
        assert "csm_relay_lag_events 3.0" in render(code, body).decode()
        with rt.pool.connection() as conn:
            conn.execute("INSERT INTO csm_relay_progress (topic, position) VALUES (%s, 3)",
                         (rt.settings.csm_topic_events,))
        code, body = rt.readiness()
        assert (code, body["relay"]["lag"], body["relay"]["lag_seconds"]) == (200, 0, 0.0)
    finally:
        rt.close()


def test_dead_letters_counted_by_the_inbound_consumer_are_reported_for_the_last_hour(rt):
    dlq = rt.settings.csm_topic_dlq
    count_dead_letters(rt.pool, dlq, 2)
    count_dead_letters(rt.pool, dlq, 3)
    with rt.pool.connection() as conn:
        conn.execute("INSERT INTO csm_dead_letter_counts VALUES (%s, now() - interval '2 hours', 4)",
                     (dlq,))
    code, body = rt.readiness()
    assert code == 200  # dead letters are the messages' fault, not a part's
    assert (body["inbound"]["dead_letters_last_hour"], body["inbound"]["dead_letters_total"]) \
        == (5, 9)
    text = render(code, body).decode()
    assert "csm_dead_letters_last_hour 5.0" in text and "csm_dead_letters_total 9.0" in text


def test_the_health_port_answers_health_ready_and_metrics_from_the_same_picture(rt):
    server = HealthServer(rt, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/health").json() == {"status": "ok"}
        ready = httpx.get(base + "/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.json()["position"] == rt.readiness()[1]["position"]
        status = rt.part("relay")
        status.failed("", "broker unavailable: NoBrokersAvailable")
        ready = wait_for(lambda: (r := httpx.get(base + "/ready")).status_code == 503 and r, 5,
                         "503 on the health port")
        assert ready.headers["retry-after"] == "1"
        assert any("relay failed" in p for p in ready.json()["problems"])
        metrics = httpx.get(base + "/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "csm_ready 0.0" in metrics.text and "csm_store_up 1.0" in metrics.text
        assert httpx.get(base + "/nothing").status_code == 404
    finally:
        server.stop()


def test_an_existing_database_gets_the_failure_columns_of_projection_status(rt):
    with rt.pool.connection() as conn:
        conn.execute("DROP SCHEMA csm_read CASCADE")
        conn.execute("CREATE SCHEMA csm_read")
        conn.execute("CREATE TABLE csm_read.projection_status (name text PRIMARY KEY, version int "
                     "NOT NULL, config text NOT NULL, position bigint NOT NULL DEFAULT 0, "
                     "state jsonb, updated_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO csm_read.projection_status (name, version, config) "
                     "VALUES ('ledger', 1, 'timezone=UTC')")
    ensure_health_tables(rt.pool)
    with rt.pool.connection() as conn:
        row = conn.execute("SELECT * FROM csm_read.projection_status").fetchone()
    assert {k: row[k] for k in ("failed_position", "failed_event_id", "failed_error",
                                "failed_since", "failures")} == {
        "failed_position": None, "failed_event_id": None, "failed_error": None,
        "failed_since": None, "failures": 0}
    assert rt.readiness()[0] == 200
