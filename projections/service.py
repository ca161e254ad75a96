"""Running the projectors beside the API (or alone): a tailing runner woken by NOTIFY."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import structlog
from psycopg_pool import ConnectionPool

from csm.infra.notifications import listen_for_events
from csm.projections.base import Projection
from csm.projections.rebuild import ensure_read_models
from csm.projections.runner import Runner

log = structlog.get_logger()


class ProjectorService:
    def __init__(self, pool: ConnectionPool, url: str, projections: Sequence[Projection],
                 zone: ZoneInfo):
        self.pool, self.url, self.projections, self.zone = pool, url, list(projections), zone
        self.stop_event, self.wake = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []
        self.runner: Runner | None = None

    def start(self) -> None:
        ensure_read_models(self.pool, self.projections, self.zone)
        self.runner = Runner(self.pool, self.projections, self.zone)
        self.threads = [threading.Thread(target=listen_for_events, name="csm-listen", daemon=True,
                                         args=(self.url, self.stop_event, self.wake)),
                        threading.Thread(target=self.runner.run, args=(self.stop_event, self.wake),
                                         name="csm-project", daemon=True)]
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
