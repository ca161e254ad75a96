"""`csm` commands as processes of their own (the console script), for the tests that
start them and the benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from csm.infra.settings import Settings

CSM = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "csm")


def part_env(s: Settings) -> dict[str, str]:
    """The environment a `csm relay|project|inbound` process needs for these settings."""
    return {**os.environ, "DATABASE_URL": s.database_url or "",
            "CSM_CIPHER_KEY": s.csm_cipher_key or "", "CSM_CHAIN_KEY": s.csm_chain_key or "",
            "CSM_SIGNING_KEY": s.csm_signing_key or "",
            "CSM_API_KEYS": s.csm_api_keys or "", "CSM_DATA_DIR": str(s.csm_data_dir),
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers or "",
            "CSM_KAFKA_PARTITIONS": str(s.csm_kafka_partitions), "CSM_TIMEZONE": s.csm_timezone,
            "CSM_TOPIC_EVENTS": s.csm_topic_events, "CSM_TOPIC_INBOUND": s.csm_topic_inbound,
            "CSM_TOPIC_DLQ": s.csm_topic_dlq, "CSM_TOPIC_INBOUND_RETRY": s.csm_topic_inbound_retry,
            "CSM_INBOUND_RETRY_SECONDS": str(s.csm_inbound_retry_seconds),
            "CSM_INBOUND_RETRY_BACKOFF_SECONDS": str(s.csm_inbound_retry_backoff_seconds),
            "CSM_INBOUND_RETRY_BACKOFF_MAX_SECONDS": str(s.csm_inbound_retry_backoff_max_seconds),
            "CSM_LOG_LEVEL": "WARNING"}  # parts: INFO


# Parts are started one after another: processes that build the application at the same
# moment can die on the event store's concurrent DDL ("tuple concurrently updated"; see
# test_kafka_parts_start_together.py). Tests of other properties must not trip on it.
START_LOCK = threading.Lock()
STARTED = "kafka_parts_started"


class Part:
    """`csm relay|project|inbound` as a process of its own (the console script). With
    `wait` (the default), returns once the process reports its parts started."""

    def __init__(self, part: str, env: dict[str, str], log_dir: Path, run: int = 0,
                 wait: bool = True, timeout: float = 90, started: str = STARTED):
        self.part, self.started = part, started
        self.killed = False
        self.log_path = log_dir / f"{part}-{run}.log"
        self._log = open(self.log_path, "wb")
        with START_LOCK if wait else _nothing():
            self.proc = subprocess.Popen([CSM, part], env={**env, "CSM_LOG_LEVEL": "INFO"},
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            if wait:
                self.wait_started(timeout)

    def wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.started not in self.log_path.read_text(errors="replace"):
            assert self.alive(), f"csm {self.part} exited at start:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"csm {self.part} did not start:\n{self.log_tail()}"
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_lines(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Its log's records, and every line that is not one JSON object with `timestamp`,
        `level`, `event` and this process's `part` (a last line cut short by kill -9 aside)."""
        data = self.log_path.read_bytes()
        lines = data.split(b"\n")
        if self.killed and not data.endswith(b"\n"):
            lines = lines[:-1]
        records, problems = [], []
        for n, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.append(f"{self.log_path.name}:{n} is not JSON: {line[:300]!r}")
                continue
            if not isinstance(rec, dict) or rec.get("part") != self.part or not all(
                    k in rec for k in ("timestamp", "level", "event")):
                problems.append(f"{self.log_path.name}:{n} lacks timestamp/level/event/part "
                                f"{self.part!r}: {line[:300]!r}")
                continue
            records.append(rec)
        return records, problems


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class Api(Part):
    """`csm api` (or `csm serve`: `command`) as a process of its own, on a free loopback port."""

    def __init__(self, env: dict[str, str], log_dir: Path, timeout: float = 90,
                 command: str = "api"):
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.part, self.killed = command, False
        self.log_path = log_dir / f"{command}.log"
        self._log = open(self.log_path, "wb")
        self.url = f"http://127.0.0.1:{self.port}"
        with START_LOCK:
            self.proc = subprocess.Popen(
                [CSM, command, "--host", "127.0.0.1", "--port", str(self.port)], env=env,
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self._wait_health(timeout)

    def _wait_health(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.alive(), f"csm {self.part} exited:\n{self.log_tail()}"
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"csm {self.part} did not start:\n{self.log_tail()}"
            time.sleep(0.1)

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer key-{role}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)
