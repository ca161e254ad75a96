"""Every part observable: `csm api`, `relay`, `project`, `inbound` and `deadlines` as processes
of their own on one PostgreSQL and one broker. Each part in turn is stalled (SIGSTOP; the
broker stopped), and `/ready` of `csm api` — which runs none of them — answers 503 naming
it within the threshold, and 200 again once it goes on; `/metrics` shows the relay's lag.
The relay's own health port tells the same picture."""
from __future__ import annotations

import os
import re
import signal
import socket
import time

import httpx

from csm.consumers.composition import start_runtime
from bench.stack import new_database
from bench.inbound_messages import produce
from bench.processes import Api, Part, part_env
from bench.topics import Topics
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings

LIMIT = 3.0       # CSM_READY_MAX_LAG_SECONDS for every process
HEARTBEAT = 0.5   # CSM_HEARTBEAT_SECONDS
# Time to notice besides the threshold: one heartbeat, one probe, a loaded 2-core machine.
SLACK = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, want: int, timeout: float, named: str | None = None
               ) -> tuple[float, dict]:
    """Seconds until `url`/ready answers `want` (and, for 503, a problem starting with
    `named`), and that answer."""
    started, body = time.monotonic(), {}
    while time.monotonic() - started < timeout:
        try:
            r = httpx.get(url + "/ready", timeout=5)
            body = r.json()
            if r.status_code == want and (named is None or any(
                    p.startswith(named) for p in body.get("problems", []))):
                return time.monotonic() - started, body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/ready of {url} did not answer {want} ({named}) in {timeout} s: "
                         f"{body}")


def send(c: httpx.Client, department: str, n: int) -> None:
    for _ in range(n):
        r = c.post("/v1/feedback", json={"channel": "web", "kind": "praise", "rating": 4,
                                         "department_id": department})
        assert r.status_code == 201, r.text


def test_each_stalled_part_turns_ready_of_csm_api_503_naming_it_and_200_after(
        pg_server, kafka_broker, tmp_path):  # noqa: F811
    topics = Topics.fresh("seen")
    topics.create(kafka_broker.bootstrap_servers)
    settings = kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics)
    start_runtime(settings).close()  # the store exists already, as in a deployment
    env = {**part_env(settings), "CSM_READY_MAX_LAG_SECONDS": str(LIMIT),
           "CSM_HEARTBEAT_SECONDS": str(HEARTBEAT), "CSM_DEADLINE_SCAN_SECONDS": "1"}
    relay_health = free_port()
    api = Api(env, tmp_path)
    parts = {"relay": Part("relay", {**env, "CSM_HEALTH_PORT": str(relay_health)}, tmp_path),
             "project": Part("project", env, tmp_path),
             "inbound": Part("inbound", env, tmp_path)}
    report = []
    try:
        parts["deadlines"] = Part("deadlines", env, tmp_path, wait=False)
        with api.client("admin") as c:
            department = c.post("/v1/departments", json={"name": "Sales"}).json()["id"]
            send(c, department, 5)
            _, body = wait_ready(api.url, 200, 120)
            assert {p["part"] for p in body["parts"]} >= {"api", "relay", "project", "inbound"}
            wait_ready(f"http://127.0.0.1:{relay_health}", 200, 10)
            # Two channel messages, one not JSON: counted as a dead letter; lag per partition.
            produce(kafka_broker.bootstrap_servers, topics.inbound, [
                ("m-1", b'{"message_id": "m-1", "type": "feedback.submitted", "source": "t", '
                        b'"payload": {"channel": "web", "kind": "praise", '
                        b'"department_id": "%s"}}' % department.encode()),
                ("m-2", b"not json")])
            deadline = time.monotonic() + 60
            while not ((body.get("deadlines") or {}).get("last_scan_at")
                       and body["inbound"]["dead_letters_last_hour"] == 1
                       and body["inbound"]["partitions"]
                       and all(p["lag"] == 0 for p in body["inbound"]["partitions"].values())):
                assert time.monotonic() < deadline, f"no scan, dead letter or lag: {body}"
                time.sleep(0.2)
                body = httpx.get(api.url + "/ready").json()
            assert sum(p["end"] for p in body["inbound"]["partitions"].values()) == 2
            metrics = httpx.get(api.url + "/metrics").text
            assert "csm_dead_letters_last_hour 1.0" in metrics
            assert 'csm_inbound_lag_messages{partition="0"} 0.0' in metrics

            for name, part in parts.items():
                os.kill(part.proc.pid, signal.SIGSTOP)
                try:
                    send(c, department, 3)
                    took, stalled = wait_ready(api.url, 503, LIMIT + SLACK + 10,
                                               named=f"{name} not seen")
                    line = next(p for p in stalled["problems"] if p.startswith(f"{name} not"))
                    assert f"pid {part.proc.pid}" in line
                    if name == "relay":
                        metrics = httpx.get(api.url + "/metrics").text
                        lag = float(re.search(r"^csm_relay_lag_events (\S+)$", metrics,
                                              re.M).group(1))
                        assert lag >= 3, metrics
                    if name != "relay":  # the relay's own port answers from the same picture
                        wait_ready(f"http://127.0.0.1:{relay_health}", 503, 10,
                                   named=f"{name} not seen")
                finally:
                    os.kill(part.proc.pid, signal.SIGCONT)
                back, _ = wait_ready(api.url, 200, 90)
                report.append(f"{name}: 503 after {took:.1f} s, 200 {back:.1f} s after SIGCONT")
                assert took <= LIMIT + SLACK, report

            kafka_broker.stop_keep_data()
            try:
                send(c, department, 3)
                took, down = wait_ready(api.url, 503, LIMIT + SLACK + 20, named="relay")
            finally:
                kafka_broker.start()
            back, _ = wait_ready(api.url, 200, 120)
            why = next(p for p in down["problems"] if p.startswith("relay"))
            report.append(f"broker: 503 after {took:.1f} s ({why[:120]}), 200 {back:.1f} s "
                          f"after it returned")
        print("\n" + "\n".join(report))
        assert all(p.alive() for p in parts.values()) and api.alive()
    finally:
        for p in parts.values():
            p.terminate()
        api.terminate()
