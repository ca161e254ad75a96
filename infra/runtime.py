"""The composition root: settings → database → keys → application, wired once."""
from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from psycopg_pool import ConnectionPool

from csm.infra.checkpointer import cover_unsealed_events
from csm.infra.database import EmbeddedPostgres, eventsourcing_env, open_pool
from csm.infra.event_store import PostgresCsm
from csm.infra.part_status import Heartbeat, PartStatus, ensure_health_tables
from csm.infra.personal_data import PersonalKeys
from csm.infra.schema import ensure_schema
from csm.infra.secrets import AuditKeys, api_keys, audit_keys, cipher_key
from csm.infra.settings import Settings

log = structlog.get_logger()


@dataclass
class Runtime:
    settings: Settings
    url: str
    pool: ConnectionPool
    app: PostgresCsm
    api_keys: dict[str, str]
    embedded: EmbeddedPostgres | None = None
    stoppers: list = field(default_factory=list)
    projectors: object | None = None
    heartbeat: Heartbeat | None = None

    def part(self, name: str) -> PartStatus:
        """The status of a long-running part of this process, written as a heartbeat."""
        if self.heartbeat is None:
            self.heartbeat = Heartbeat(self.pool, self.settings.csm_heartbeat_seconds)
        return self.heartbeat.part(name)

    def readiness(self) -> tuple[int, dict]:
        """The whole picture from PostgreSQL (see infra/readiness.py), and this process's
        own threads."""
        from csm.infra.readiness import picture

        def local() -> list[str]:
            stopped = self.projectors is not None and not self.projectors.running()
            return ["threads of the parts of this process stopped"] if stopped else []
        return picture(self.pool, self.settings, local)
    audit: AuditKeys | None = None

    def start_projectors(self, names: list[str] | None = None):
        """Runs the chosen projections (all by default) in background threads of this process."""
        from csm.projections.registry import select
        from csm.projections.service import ProjectorService
        service = ProjectorService(self.pool, self.url, select(names), self.settings.zone,
                                   status=self.part("project"))
        service.start()
        self.stoppers.append(service.stop)
        self.projectors = service
        return service

    def start_kafka_parts(self, parts: set[str], projections: list[str] | None = None):
        """Relay, Kafka-fed projectors and/or the inbound consumer, in background threads."""
        from csm.consumers.service import KafkaParts
        service = KafkaParts(self, parts, projections)
        service.start()
        self.stoppers.append(service.stop)
        if "project" in parts:
            self.projectors = service
        return service

    def start_read_side(self, projections: list[str] | None = None):
        """Projectors fed from Kafka when it is configured, else from the event store."""
        if self.settings.kafka_bootstrap_servers:
            return self.start_kafka_parts({"project"}, projections)
        return self.start_projectors(projections)

    def start_deadlines(self):
        """The deadline watcher in a background thread."""
        import threading

        from csm.consumers.deadlines import DeadlineWatcher
        from csm.projections.complaints import Complaints
        from csm.projections.rebuild import ensure_read_models
        s = self.settings
        ensure_read_models(self.pool, [Complaints()], s.zone)  # where it finds candidates
        watcher = DeadlineWatcher(self.pool, self.app, s.csm_sla_grace_seconds,
                                  s.csm_deadline_scan_seconds, status=self.part("deadlines"))
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), name="csm-deadlines",
                                  daemon=True)
        thread.start()
        self.stoppers.append(lambda: (stop.set(), thread.join(timeout=10)))
        return watcher

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.app.close()
        self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def start_runtime(settings: Settings, *, keep_embedded_running: bool = False) -> Runtime:
    audit = audit_keys(settings)  # before anything starts: a missing key stops here
    embedded = None
    url = settings.database_url
    if not url:
        embedded = EmbeddedPostgres(settings.csm_data_dir, keep_running=keep_embedded_running)
        url = embedded.url
    pool = open_pool(url)
    pool.wait(timeout=30)
    keys = PersonalKeys(pool, cipher_key(settings))
    app = PostgresCsm(eventsourcing_env(url), keys, audit.chain_key)
    with pool.connection() as conn:
        ensure_schema(conn)
    ensure_health_tables(pool)
    cover_unsealed_events(pool, audit)
    log.info("runtime_started", embedded=embedded is not None)
    return Runtime(settings, url, pool, app, api_keys(settings), embedded, audit=audit)
