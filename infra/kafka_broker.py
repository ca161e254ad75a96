"""A real single-node Apache Kafka 4.x broker (KRaft) for tests and local runs.

Jars come from Maven Central via ``infra/kafka/pom.xml`` (needs ``mvn`` and Java 17+);
the broker runs on 127.0.0.1 with a fresh temp dir of data, its output in
``<workdir>/broker.log``. ``restart(down_for=30)`` brings it back on the same port
with the same data. ``python -m infra.kafka_broker`` starts one, prints
``KAFKA_BOOTSTRAP_SERVERS=...`` and runs until Ctrl-C/SIGTERM, or exits 1 naming
its kept log when the broker dies.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)

DEFAULT_VERSION = "4.1.1"
# log4j-core version that `mvn dependency:tree` shows for each kafka_2.13 version.
LOG4J_FOR_KAFKA = {"4.1.1": "2.24.3", "4.1.2": "2.25.3", "4.2.0": "2.25.3",
                   "4.3.0": "2.25.4", "4.4.0": "2.25.5"}
HERE = Path(__file__).resolve().parent / "kafka"
_MARKER = ".complete"


def ensure_jars(version: str = DEFAULT_VERSION) -> Path:
    """Return a dir holding the broker's runtime classpath, fetching it with Maven once."""
    dest = Path(os.environ.get("CSM_KAFKA_CACHE") or Path.home() / ".cache" / "csm" / f"kafka-{version}")
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / _MARKER
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download at a time across processes
        if marker.exists() and marker.read_text().strip() == version:
            return dest
        for old in dest.glob("*.jar"):  # a half or other-version download: redo it
            old.unlink()
        marker.unlink(missing_ok=True)
        cmd = ["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={dest}", f"-Dkafka.version={version}",
               f"-Dlog4j.version={LOG4J_FOR_KAFKA.get(version, '2.24.3')}"]
        if not shutil.which("mvn"):
            raise RuntimeError("mvn not found on PATH: needed to fetch the Kafka jars")
        log.info("fetching Kafka %s jars into %s", version, dest)
        res = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if res.returncode != 0 or not list(dest.glob(f"kafka_2.13-{version}.jar")):
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}{res.stderr[-3000:]}")
        marker.write_text(version + "\n")
    return dest


def _free_port(exclude: set[int]) -> int:
    """A bindable loopback port below the ephemeral range, so that outgoing client
    connections cannot take it while the broker is down for a restart."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(20000, max(low, 20100) - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in exclude:
            return port
    raise RuntimeError("no free loopback port")


def _death_signal():
    """preexec_fn making the broker get SIGTERM when the thread that started it ends,
    so a killed test run leaves no java behind. Only used from the main thread (the
    kernel ties it to the starting *thread*); prctl is resolved here, not in the child."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG


class KafkaBroker:
    """Single-node KRaft broker+controller on 127.0.0.1; ``with KafkaBroker() as b: b.bootstrap_servers``."""

    def __init__(self, version: str = DEFAULT_VERSION, num_partitions: int = 3,
                 heap: str = "512m", extra_props: dict[str, str] | None = None):
        self.version, self.num_partitions, self.heap = version, num_partitions, heap
        self.extra_props = dict(extra_props or {})
        self.workdir: Path | None = None
        self.port = self.controller_port = 0
        self.proc: subprocess.Popen | None = None
        self._jars: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "broker.log"

    def _java(self, main: str, *args: str, jvm: tuple[str, ...] = ()) -> list[str]:
        return ["java", *jvm, "-cp", f"{self._jars}/*", main, *args]

    def _setup(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="csm-kafka-"))
        atexit.register(self.stop)  # a forgotten broker is still stopped and its data removed
        self.port = _free_port(set())
        self.controller_port = _free_port({self.port})
        p, c = self.port, self.controller_port
        props = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": str(self.num_partitions), "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0", **self.extra_props,
        }
        props_path = self.workdir / "server.properties"
        props_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        cluster_id = subprocess.run(self._java("kafka.tools.StorageTool", "random-uuid"),
                                    capture_output=True, text=True, check=True).stdout.strip()
        res = subprocess.run(self._java("kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                                        "-c", str(props_path)), check=False, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"kafka storage format failed:\n{res.stdout}{res.stderr}")

    def start(self, timeout: float = 60) -> Self:
        """Start the broker (a fresh one, or the stopped one again on the same ports and data)."""
        if self.proc is not None:
            raise RuntimeError("broker already running")
        if not shutil.which("java"):
            raise RuntimeError("java (17+) not found on PATH")
        self._jars = self._jars or ensure_jars(self.version)
        fresh = self.workdir is None
        try:
            if fresh:
                self._setup()
            jvm = (f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                   f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}")
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(
                    self._java("kafka.Kafka", str(self.workdir / "server.properties"), jvm=jvm),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_death_signal())  # noqa: PLW1509 - one prctl call
            self._wait_ready(timeout)
        except BaseException:
            self._kill()
            if fresh:
                self._cleanup()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient

        deadline = time.monotonic() + timeout
        last_err: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000)
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except Exception as e:  # noqa: BLE001 - not up yet
                last_err = e
                time.sleep(0.2)
        raise RuntimeError(f"Kafka broker not ready after {timeout}s ({last_err!r}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AssertionError):
            return "(no broker log)"

    def _kill(self, grace: float = 30) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # clean shutdown
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def stop_keep_data(self) -> None:
        """Stop the process; ports, config and data stay for ``start()``/``restart()``."""
        self._kill()

    def restart(self, down_for: float = 0, timeout: float = 60) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port with the same data."""
        self.stop_keep_data()
        time.sleep(down_for)
        self.start(timeout)

    def watch(self, stop: list) -> int | None:
        """Until `stop` gets an entry (from a signal handler) or the broker process ends on its
        own; then its exit code, with its data and log kept for a look (None: told to stop)."""
        while not stop:
            code = self.proc.poll() if self.proc is not None else -1
            if code is not None:
                self.proc = None
                atexit.unregister(self.stop)
                return code
            time.sleep(0.5)
        return None

    def stop(self) -> None:
        """Stop the broker and remove its data."""
        self._kill()
        self._cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(version: str = DEFAULT_VERSION, partitions: int = 3) -> int:
    """Starts a broker, prints ``KAFKA_BOOTSTRAP_SERVERS=…`` on stdout and runs it until
    SIGINT/SIGTERM (exit code 0) or until it dies (1; its log is kept and named)."""
    stop: list[int] = []  # not threading.Event: Event.set() in a handler can deadlock Event.wait()
    broker = KafkaBroker(version=version, num_partitions=partitions).start()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: stop.append(signum))
        print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
        log.info("Kafka broker running; its log: %s", broker.log_path)
        code = broker.watch(stop)
    except BaseException:
        broker.stop()
        raise
    if code is None:
        log.info("stopping Kafka broker")
        broker.stop()
        return 0
    log.error("Kafka broker died (exit code %s); its log is kept at %s; last lines:\n%s",
              code, broker.log_path, broker.log_tail(20))
    return 1


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m infra.kafka_broker", description=__doc__)
    ap.add_argument("--version", default=DEFAULT_VERSION, help="kafka_2.13 version (default %(default)s)")
    ap.add_argument("--partitions", type=int, default=3, help="num.partitions (default %(default)s)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's readiness probe is chatty
    return run(args.version, args.partitions)


if __name__ == "__main__":
    sys.exit(main())
