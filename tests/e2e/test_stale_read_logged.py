"""A read that the projections cannot serve in time is logged as `stale_read` by a `csm serve`
process, and is not taken for the store being away."""
from __future__ import annotations

import json
import signal
import socket
import time

import httpx

from bench.stack import API_KEYS, new_database
from tests.csm_process import csm_env, start_csm
from tests.integration.test_contract_details import _problem


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _logged_events(text: str) -> list[str]:
    lines = (line for line in text.splitlines() if line.startswith("{"))
    return [json.loads(line).get("event") for line in lines]


def test_a_stale_read_is_logged_as_stale_read(pg_server, tmp_path):
    port, log = _free_port(), tmp_path / "serve.log"
    proc = start_csm("serve", "--port", str(port), log=log, env=csm_env(
        tmp_path, new_database(pg_server), CSM_API_KEYS=API_KEYS))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": "Bearer key-manager"}) as c:
            deadline = time.monotonic() + 60
            while not _answers(c, "/ready"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            _problem(c.get("/v1/satisfaction", params={"min_position": 10**12, "wait": 0.1}),
                     503)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    events = _logged_events(log.read_text())
    assert "stale_read" in events and "store_unavailable" not in events


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False
