"""`csm` run as a process of its own, configured through the environment only."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.stack import KEYS_ENV

ROOT = Path(__file__).resolve().parents[1]
CSM = [sys.executable, "-c", "from csm.consumers.cli import main; main()"]


def csm_env(data_dir: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a csm process: its own data dir, no key unless `extra` sets one."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CSM_") and k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({"CSM_DATA_DIR": str(data_dir), "CSM_LOG_LEVEL": "INFO", **KEYS_ENV, **extra})
    if url:
        env["DATABASE_URL"] = url
    return env


def run_csm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CSM, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def start_csm(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([*CSM, *args], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
