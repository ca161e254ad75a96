"""The HTTP API served by several worker processes on one port (`--workers N`).

The parent process has opened the runtime: the embedded PostgreSQL when DATABASE_URL is
not set, the schema, the keys (a generated admin key is printed once, there), and it runs
whatever else the command runs (`csm serve`: projectors, deadline watcher, checkpointer,
Kafka parts). It binds one listening socket per worker on the port, each with
SO_REUSEPORT, so that the kernel spreads new connections evenly over the workers (one
shared socket would let whichever worker wakes first accept a whole burst of them). Each
worker is a spawned process (not forked: the parent has threads and open connections)
that opens a runtime of its own on the parent's database (its own pool, application and
group commit) and serves the API on its socket. `/ready` and the readiness gauges of
`/metrics` are read from PostgreSQL, so every worker tells the whole picture; the counters
of `/metrics` are those of the worker that answers.

SIGTERM or SIGINT stops every worker (each finishes the requests it has and closes its
runtime); the parent then stops its own parts and, last, the embedded PostgreSQL. A worker
that exits on its own stops them all, and the command exits 1.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
from multiprocessing.connection import wait
from typing import Any

import structlog

from csm.consumers.composition import Process, attach_runtime
from csm.infra.settings import Settings

log = structlog.get_logger()
STOP_SECONDS = 30


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one port (0: a free one), SO_REUSEPORT each. A plain bind
    first makes sure no other server (with SO_REUSEPORT or not) listens there already."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (a
            # socket of protocol 0 would wait out delayed ACKs, ~40 ms an answer).
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve_workers(runtime: Process, host: str, port: int, workers: int, part: str) -> None:
    """Serves the API from `workers` processes until SIGTERM or SIGINT; SystemExit(1) when a
    worker exited on its own or did not stop cleanly."""
    sockets = listening_sockets(host, port, workers)
    port = sockets[0].getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    procs: list[Any] = []
    try:
        for n, sock in enumerate(sockets):
            proc = ctx.Process(target=run_worker, name=f"csm-api-{n}", args=(
                runtime.settings, runtime.url, runtime.api_keys, sock, host, port, part))
            proc.start()
            procs.append(proc)
    finally:
        for sock in sockets:  # each worker holds its own copy now
            sock.close()
    log.info("api_starting", url=f"http://{host}:{port}", openapi=f"http://{host}:{port}/docs",
             workers=workers, pids=[p.pid for p in procs])
    failed = _supervise(procs, stop)
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(timeout=STOP_SECONDS)
        if p.is_alive():
            log.error("api_worker_killed", pid=p.pid, after_seconds=STOP_SECONDS)
            p.kill()
            p.join()
        elif p.exitcode != 0 and not failed:
            log.error("api_worker_stopped_badly", pid=p.pid, exitcode=p.exitcode)
        failed = failed or p.exitcode != 0
    log.info("api_workers_stopped", workers=workers)
    if failed:
        raise SystemExit(1)


def _supervise(procs: list[Any], stop: threading.Event) -> bool:
    """Waits for a signal (False) or for a worker that exits on its own (True)."""
    while not stop.is_set():
        for p in wait([p.sentinel for p in procs], timeout=0.5):
            exited = next(q for q in procs if q.sentinel == p)
            exited.join()
            if stop.is_set():
                return False
            log.error("api_worker_exited", pid=exited.pid, exitcode=exited.exitcode)
            return True
    return False


def run_worker(settings: Settings, url: str, api_keys: dict[str, str], sock: socket.socket,
               host: str, port: int, part: str) -> None:
    """One worker process: its own runtime, the API on `sock` until SIGTERM or SIGINT."""
    import uvicorn

    from csm.consumers.api_server import api_server
    from csm.infra.logging import configure_logging
    configure_logging(settings.csm_log_level, part)
    server: uvicorn.Server | None = None
    stopping = threading.Event()

    def on_signal(*_: object) -> None:
        stopping.set()
        if server is not None:
            server.should_exit = True
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    runtime = attach_runtime(settings, url, api_keys)
    try:
        runtime.part("api")
        _forget_parent_gauges()
        server = api_server(runtime, host, port)
        server.should_exit = stopping.is_set()
        log.info("api_worker_started", pid=os.getpid())
        server.run(sockets=[sock])
    finally:
        runtime.close()


def _forget_parent_gauges() -> None:
    """The checkpointer's gauges are set where it runs, in the parent: a worker would show
    them at 0 (`csm_audit_chain_intact 0` reads as a broken chain), so it shows them not."""
    from prometheus_client import REGISTRY

    from csm.infra.checkpointer import CHAIN_INTACT, CHECKPOINT_POSITION
    for gauge in (CHAIN_INTACT, CHECKPOINT_POSITION):
        try:
            REGISTRY.unregister(gauge)
        except KeyError:
            pass
