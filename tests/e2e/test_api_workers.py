"""`csm serve --workers 2` on a fresh database: the API is served by two worker processes
(children of the parent, which runs the projectors), commands on different connections land
on both, a query reads its own write with `min_position` whichever worker answers, every
worker tells the readiness from PostgreSQL, and SIGTERM to the parent stops every process
with exit code 0.

Which worker serves a connection is read from the operating system (psutil: the worker
whose established socket has the client's local port as its remote end), not from the API.
"""
from __future__ import annotations

import http.client
import json
import signal
import socket
import time

import psutil

from bench.stack import API_KEYS, new_database
from tests.csm_process import csm_env, start_csm

CONNECTIONS = 16  # all on one worker of two by chance: 2 in 2**16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(conn: http.client.HTTPConnection, method: str, path: str, body=None,
             role: str = "admin") -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer key-{role}", "Content-Type": "application/json"}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read() or b"{}")


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [c for c in parent.children()
            if "multiprocessing.spawn" in " ".join(c.cmdline())]


def _owner(workers: list[psutil.Process], local_port: int) -> int | None:
    """The pid of the worker holding the server end of the connection from `local_port`."""
    for w in workers:
        for c in w.net_connections(kind="tcp"):
            if c.raddr and c.raddr.port == local_port and c.status == psutil.CONN_ESTABLISHED:
                return w.pid
    return None


def test_serve_with_two_workers_spreads_connections_reads_its_writes_and_stops_cleanly(
        pg_server, tmp_path):
    port, log = _free_port(), tmp_path / "serve.log"
    env = csm_env(tmp_path / "data", new_database(pg_server), CSM_API_KEYS=API_KEYS)
    server = start_csm("serve", "--workers", "2", "--port", str(port), env=env, log=log)
    conns: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if _request(probe, "GET", "/ready")[0] == 200:
                    break
            except OSError:
                pass
            finally:
                probe.close()
            time.sleep(0.2)
        parent = psutil.Process(server.pid)
        workers = _workers(parent)
        assert len(workers) == 2, [c.cmdline() for c in parent.children()]

        status, dept = _request(probe, "POST", "/v1/departments", {"name": "workers"})
        assert status == 201, dept
        positions, owners = [], {}
        for n in range(CONNECTIONS):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conns.append(conn)
            status, answer = _request(conn, "POST", "/v1/feedback", {
                "channel": "web", "kind": "praise", "department_id": dept["id"], "rating": 5,
                "text": f"connection {n}"}, role="channel")
            assert status == 201, answer
            positions.append(answer["position"])
            owners[n] = _owner(workers, conn.sock.getsockname()[1])
        assert None not in owners.values(), owners
        assert set(owners.values()) == {w.pid for w in workers}, owners
        assert len(set(positions)) == CONNECTIONS

        # Read-your-writes from each worker: the projectors run in the parent.
        for n in {owner: n for n, owner in owners.items()}.values():
            status, stats = _request(conns[n], "GET", f"/v1/feedback/stats?min_position="
                                     f"{max(positions)}&wait=20", role="manager")
            assert status == 200, stats
            assert sum(r["count"] for r in stats["rows"]) == CONNECTIONS, stats
            status, ready = _request(conns[n], "GET", "/ready")
            assert status == 200, ready
            api_pids = {p["pid"] for p in ready["parts"] if p["part"] == "api"}
            assert api_pids == {w.pid for w in workers}, ready["parts"]
            assert {p["pid"] for p in ready["parts"] if p["part"] == "project"} == {server.pid}
    finally:
        for conn in conns:
            conn.close()
        everyone = [psutil.Process(server.pid), *psutil.Process(server.pid).children(
            recursive=True)] if server.poll() is None else []
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    gone, alive = psutil.wait_procs(everyone, timeout=5)
    assert not alive, [p.cmdline() for p in alive]
    text = log.read_text()
    assert text.count("api_worker_started") == 2 and "api_workers_stopped" in text
    assert "unhandled_error" not in text and "api_worker_exited" not in text
