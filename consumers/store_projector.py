"""Running the projectors beside the API (or alone): a tailing runner woken by NOTIFY.

A projection that cannot apply an event stops alone (see the runner); when the store
itself cannot be read or written, the tail says so once (log and the part's status),
tries again with a backoff up to 30 s, and says so again once it can."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from psycopg_pool import ConnectionPool

from csm.infra.notifications import listen_for_events
from csm.projections.base import Projection
from csm.projections.failure import backoff, describe_error
from csm.projections.rebuild import ensure_read_models
from csm.projections.runner import Runner

log = structlog.get_logger()
# Woken by an event, the tail waits this long before it reads: under load one batch then
# applies many commands' events instead of one transaction per command.
GATHER_SECONDS = 0.01


class ProjectorService:
    def __init__(self, pool: ConnectionPool, url: str, projections: Sequence[Projection],
                 zone: ZoneInfo, status: Any = None):
        self.pool, self.url, self.projections, self.zone = pool, url, list(projections), zone
        self.status = status
        self.stop_event, self.wake = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []
        self.runner: Runner | None = None

    def start(self) -> None:
        ensure_read_models(self.pool, self.projections, self.zone)
        self.runner = Runner(self.pool, self.projections, self.zone, isolate=True)
        self.threads = [threading.Thread(target=listen_for_events, name="csm-listen", daemon=True,
                                         args=(self.url, self.stop_event, self.wake)),
                        threading.Thread(target=tail, name="csm-project", daemon=True,
                                         args=(self.runner, self.stop_event, self.wake,
                                               self.status))]
        for t in self.threads:
            t.start()
        log.info("projectors_started", projections=[p.name for p in self.projections])

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        for t in self.threads:
            t.join(timeout=10)

    def running(self) -> bool:
        return bool(self.threads) and all(t.is_alive() for t in self.threads)


def tail(runner: Runner, stop: threading.Event, wake: threading.Event, status: Any = None,
         poll: float = 1.0) -> None:
    """Tails the store until stopped: woken by NOTIFY (via `wake`) or every `poll` seconds.
    When the store cannot be read or written, says so once (log and `status`), tries
    again with a backoff, and says so again once it can."""
    troubled = 0
    while not stop.is_set():
        try:
            if troubled:
                runner.reload()
            n = runner.catch_up()
            if n:
                log.info("projection_batch_applied", events=n, position=runner.position)
            if troubled:
                log.info("projection_runner_recovered", position=runner.position)
                troubled = 0
            if status is not None:
                status.ok("store")
                status.update(stopped=sorted(runner.stopped))
        except Exception as exc:  # noqa: BLE001 - the store, not a projection: retry all
            troubled += 1
            if troubled == 1:
                log.error("projection_runner_failed", position=runner.position,
                          error=describe_error(exc))
            if status is not None:
                status.failed("store", describe_error(exc))
            stop.wait(backoff(troubled))
            continue
        if wake.wait(poll):
            stop.wait(GATHER_SECONDS)  # let the events of commands arriving together gather
        wake.clear()
