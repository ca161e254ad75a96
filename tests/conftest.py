"""Shared fixtures: a real embedded PostgreSQL per test run, fresh databases on it, live HTTP."""
from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from csm.api.app import create_app
from csm.infra.database import EmbeddedPostgres
from csm.infra.logging import configure_logging
from csm.consumers.composition import Process as Runtime, start_runtime
from csm.infra.settings import Settings

ROLES = ("admin", "agent", "channel", "manager", "auditor")
API_KEYS = ",".join(f"key-{r}:{r}" for r in ROLES)
CIPHER_KEY = base64.b64encode(b"k" * 32).decode()


def settings_for(url: str, data_dir: Path, **extra) -> Settings:
    return Settings(database_url=url, csm_data_dir=data_dir, csm_api_keys=API_KEYS,
                    csm_cipher_key=CIPHER_KEY, **extra)


def new_database(server: EmbeddedPostgres) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.server.get_uri(database=name)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-shared"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def runtime(pg_server, tmp_path_factory) -> Iterator[Runtime]:
    """One runtime on one database, shared by tests that use unique ids."""
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path_factory.mktemp("data")))
    rt.start_projectors()
    yield rt
    rt.close()


@pytest.fixture
def fresh_runtime(pg_server, tmp_path) -> Iterator[Runtime]:
    """A runtime on a database of its own, for tests that count or tamper with everything."""
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path))
    yield rt
    rt.close()


class LiveServer:
    """The API served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, rt: Runtime):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(rt), host="127.0.0.1", port=self.port,
                                log_config=None, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer key-{role}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="session")
def live(runtime) -> Iterator[LiveServer]:
    server = LiveServer(runtime)
    yield server
    server.stop()


@pytest.fixture
def http(live):
    """role → an HTTP client with that role's key."""
    clients: dict[str, httpx.Client] = {}

    def get(role: str) -> httpx.Client:
        if role not in clients:
            clients[role] = live.client(role)
        return clients[role]
    yield get
    for c in clients.values():
        c.close()


def uid(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
configure_logging(os.environ.get("CSM_TEST_LOG_LEVEL", "WARNING"))
