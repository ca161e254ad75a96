"""What every csm process holds: settings → database → keys → application, opened once.

The parts that run on it (API, projectors, Kafka parts, deadline watcher) are started by
the composition root, consumers/composition.py: infra/ knows none of them."""
from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from psycopg_pool import ConnectionPool

from csm.infra.checkpointer import cover_unsealed_events
from csm.infra.database import EmbeddedPostgres, eventsourcing_env, open_pool
from csm.infra.event_store import PostgresCsm
from csm.infra.group_commit import GroupCommit
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
    audit: AuditKeys | None = None
    commands: GroupCommit | None = None  # where the API hands its commands (group commit)

    def __post_init__(self) -> None:
        if self.commands is None:
            self.commands = GroupCommit(self.app)

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

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            stop()
        self.commands.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.app.close()
        self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()

    @classmethod
    def open(cls, settings: Settings, *, keep_embedded_running: bool = False):
        """Opens the database (an embedded one when DATABASE_URL is not set), the keys and
        the application, and makes sure the schema is there."""
        audit = audit_keys(settings)  # before anything starts: a missing key stops here
        embedded = None
        url = settings.database_url
        if not url:
            embedded = EmbeddedPostgres(settings.csm_data_dir, keep_running=keep_embedded_running)
            url = embedded.url
        pool, app = _connect(settings, url, audit)
        with pool.connection() as conn:
            ensure_schema(conn)
        ensure_health_tables(pool)
        cover_unsealed_events(pool, audit)
        log.info("runtime_started", embedded=embedded is not None)
        return cls(settings, url, pool, app, api_keys(settings), embedded, audit=audit)

    @classmethod
    def attach(cls, settings: Settings, url: str, keys: dict[str, str]):
        """A runtime of its own (pool, application, group commit) on a database that another
        process of the same command opened and set up: it starts and stops no embedded
        PostgreSQL, creates no schema and makes no API key."""
        audit = audit_keys(settings)
        pool, app = _connect(settings, url, audit)
        return cls(settings, url, pool, app, dict(keys), audit=audit)


def _connect(settings: Settings, url: str, audit: AuditKeys):
    pool = open_pool(url)
    pool.wait(timeout=30)
    app = PostgresCsm(eventsourcing_env(url), PersonalKeys(pool, cipher_key(settings)),
                      audit.chain_key)
    return pool, app
