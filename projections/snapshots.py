"""As-of snapshots: every read model built from the events recorded up to a moment.

A snapshot is asked for (`request_snapshot`: status `pending`, with the position of the last
event recorded by `as_of`), then built (`build_snapshot`: `running`, then `ready` or
`failed`) by replaying the store up to that position into a schema of its own — the same
replay as a rebuild, stopped there. Its `projection_status` holds the policy in force at
`as_of`, so queries answer from it as the live system did then. Whoever builds one holds an
advisory lock on it, so a build whose process died is taken up again, once, by the next.
"""
from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from csm.projections.rebuild import build_into
from csm.projections.registry import ALL
from csm.projections.store import position_as_of

log = structlog.get_logger()
BUILDS = Counter("csm_snapshot_builds_total", "Snapshot builds by how they ended", ["outcome"])
COLUMNS = ("snapshot_id, as_of, schema_name, status, position, applied, error, created_at, "
           "started_at, finished_at")


class Interrupted(Exception):
    """The build stopped: its snapshot was deleted, or this process is stopping."""


def _answer(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    done = row["position"] == 0 or row["status"] == "ready"
    return {**{k: v for k, v in row.items() if k != "schema_name"},
            "progress": 1.0 if done else round(min(row["applied"] / row["position"], 1.0), 4)}


def request_snapshot(pool: ConnectionPool, as_of: datetime,
                     also: Callable[[Any, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Records a pending snapshot of every read model as of `as_of`; `also` runs in the same
    transaction (e.g. an Idempotency-Key record)."""
    snapshot_id = f"snap-{uuid.uuid4().hex[:16]}"
    position = position_as_of(pool, as_of)
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        snap = _answer(cur.execute(
            f"INSERT INTO csm_snapshots (snapshot_id, as_of, schema_name, position) "
            f"VALUES (%s, %s, %s, %s) RETURNING {COLUMNS}",
            (snapshot_id, as_of, f"csm_{snapshot_id.replace('-', '_')}", position)).fetchone())
        if also is not None:
            also(cur, snap)
    log.info("snapshot_requested", snapshot_id=snapshot_id, position=position)
    return snap


def find(pool: ConnectionPool, snapshot_id: str, with_schema: bool = False
         ) -> dict[str, Any] | None:
    with pool.connection() as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM csm_snapshots WHERE snapshot_id = %s",
                           (snapshot_id,)).fetchone()
    return row if with_schema else _answer(row)


def listing(pool: ConnectionPool) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        rows = conn.execute(f"SELECT {COLUMNS} FROM csm_snapshots ORDER BY created_at DESC, "
                            f"snapshot_id").fetchall()
    return [_answer(r) for r in rows]


def delete_snapshot(pool: ConnectionPool, snapshot_id: str) -> bool:
    """Removes a snapshot and its schema; a build under way notices and stops."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute("DELETE FROM csm_snapshots WHERE snapshot_id = %s "
                           "RETURNING schema_name", (snapshot_id,)).fetchone()
        if row is not None:
            conn.execute(f'DROP SCHEMA IF EXISTS "{row["schema_name"]}" CASCADE')
    if row is not None:
        log.info("snapshot_deleted", snapshot_id=snapshot_id)
    return row is not None


def _lock_key(snapshot_id: str) -> str:
    return f"csm-snapshot:{snapshot_id}"


def build_snapshot(pool: ConnectionPool, snapshot_id: str, zone: ZoneInfo,
                   progress: Callable[[int], None] | None = None,
                   stop: threading.Event | None = None) -> dict[str, Any] | None:
    """Builds a requested snapshot (afresh, if an earlier build died); its final status, or
    None if another process is building it or it no longer exists."""
    with pool.connection() as holder:  # the lock lives as long as this session
        if not holder.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS ok",
                              (_lock_key(snapshot_id),)).fetchone()["ok"]:
            return None
        try:
            return _build(pool, snapshot_id, zone, progress, stop)
        finally:
            holder.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_lock_key(snapshot_id),))


def _build(pool: ConnectionPool, snapshot_id: str, zone: ZoneInfo,
           progress: Callable[[int], None] | None, stop: threading.Event | None
           ) -> dict[str, Any] | None:
    with pool.connection() as conn:
        snap = conn.execute(f"UPDATE csm_snapshots SET status = 'running', started_at = now(), "
                            f"applied = 0, error = NULL WHERE snapshot_id = %s AND status IN "
                            f"('pending', 'running') RETURNING {COLUMNS}", (snapshot_id,)
                            ).fetchone()
        if snap is None:
            return find(pool, snapshot_id)
        conn.execute(f'DROP SCHEMA IF EXISTS "{snap["schema_name"]}" CASCADE')

    def advanced(position: int) -> None:
        with pool.connection() as c:
            if c.execute("UPDATE csm_snapshots SET applied = %s WHERE snapshot_id = %s "
                         "RETURNING 1", (position, snapshot_id)).fetchone() is None:
                raise Interrupted("deleted")
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        if progress:
            progress(position)

    log.info("snapshot_build_started", snapshot_id=snapshot_id, position=snap["position"])
    try:
        build_into(pool, list(ALL.values()), zone, snap["schema_name"], snap["position"],
                   advanced, views=True)
    except Interrupted as why:
        with pool.connection() as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{snap["schema_name"]}" CASCADE')
            c.execute("UPDATE csm_snapshots SET status = 'pending' WHERE snapshot_id = %s",
                      (snapshot_id,))
        BUILDS.labels("interrupted").inc()
        log.info("snapshot_build_interrupted", snapshot_id=snapshot_id, why=str(why))
        return find(pool, snapshot_id)
    except Exception as exc:
        BUILDS.labels("failed").inc()
        log.error("snapshot_build_failed", snapshot_id=snapshot_id, exc_info=exc)
        with pool.connection() as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{snap["schema_name"]}" CASCADE')
            c.execute("UPDATE csm_snapshots SET status = 'failed', finished_at = now(), "
                      "error = %s WHERE snapshot_id = %s",
                      (f"{type(exc).__name__}: {exc}"[:500], snapshot_id))
        raise
    with pool.connection() as c:
        c.execute("UPDATE csm_snapshots SET status = 'ready', applied = position, "
                  "finished_at = now() WHERE snapshot_id = %s", (snapshot_id,))
    BUILDS.labels("ready").inc()
    log.info("snapshot_ready", snapshot_id=snapshot_id, position=snap["position"])
    return find(pool, snapshot_id)


class SnapshotBuilder:
    """Builds requested snapshots one after another in a background thread of this process;
    on start it takes up those left pending or running by a process that died."""

    def __init__(self, pool: ConnectionPool, zone: ZoneInfo):
        self.pool, self.zone = pool, zone
        self.todo: queue.Queue[str | None] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="csm-snapshots", daemon=True)

    def start(self) -> SnapshotBuilder:
        with self.pool.connection() as conn:
            for r in conn.execute("SELECT snapshot_id FROM csm_snapshots WHERE status IN "
                                  "('pending', 'running') ORDER BY created_at").fetchall():
                self.todo.put(r["snapshot_id"])
        self.thread.start()
        return self

    def submit(self, snapshot_id: str) -> None:
        self.todo.put(snapshot_id)

    def _run(self) -> None:
        while (snapshot_id := self.todo.get()) is not None:
            try:
                build_snapshot(self.pool, snapshot_id, self.zone, stop=self.stopping)
            except Exception as exc:  # a failed build was logged and marked by the build
                log.warning("snapshot_build_not_run", snapshot_id=snapshot_id,
                            error=type(exc).__name__)

    def stop(self) -> None:
        self.stopping.set()
        self.todo.put(None)
        self.thread.join(timeout=30)
