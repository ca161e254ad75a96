"""Shared fixtures: a real embedded PostgreSQL per test run, fresh databases on it, live HTTP
(the stack itself is bench/stack.py, which the benchmarks use too)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from bench.stack import LiveServer, new_database, settings_for
from csm.consumers.composition import Process as Runtime
from csm.consumers.composition import start_runtime
from csm.infra.database import EmbeddedPostgres
from csm.infra.logging import configure_logging


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
