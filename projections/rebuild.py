"""Creating read models, and rebuilding them into fresh tables swapped in atomically.

A rebuild replays the store into a private schema (the projections shared among
processes when there is much to replay: projections/parallel_build.py), then, in one transaction
that holds the live status rows (so no live runner can write meanwhile),
applies what arrived since, drops the old tables, moves the new ones in and
records the position. Readers see the old tables or the new, never half.
An as-of snapshot (projections/snapshots.py) is the same replay, stopped at a
position and kept in its own schema.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

import structlog
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.projections.pg_names import READ_SCHEMA, READ_SCHEMA_LOCK
from csm.projections.base import Projection
from csm.projections.parallel_build import replay
from csm.projections.runner import BATCH, Runner
from csm.projections.status import STATUS_DDL, clear_failure
from csm.projections.store import head_position, read_events

log = structlog.get_logger()


def config_of(zone: ZoneInfo) -> str:
    """What, besides the code version, the rows depend on: a change means a rebuild."""
    return f"timezone={zone.key}"


def _create(conn, p: Projection, schema: str, views: bool = True, indexes: bool = True) -> None:
    for t in p.tables:
        for statement in t.ddl(schema, indexes):
            conn.execute(statement)
    if views:
        for view in p.views:
            conn.execute(view.format(schema=schema))


def ensure_read_models(pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo,
                       schema: str = READ_SCHEMA,
                       progress: Callable[[str, int], None] | None = None) -> None:
    """Creates missing read models; rebuilds those whose version or time zone changed."""
    stale = []
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (READ_SCHEMA_LOCK,))
        conn.execute(STATUS_DDL.format(schema=schema))
        status = {r["name"]: r for r in conn.execute(
            f'SELECT name, version, config FROM "{schema}".projection_status').fetchall()}
        for p in projections:
            row = status.get(p.name)
            if row is None:
                _create(conn, p, schema)
                conn.execute(f'INSERT INTO "{schema}".projection_status (name, version, config, '
                             f'position, state) VALUES (%s, %s, %s, 0, %s)',
                             (p.name, p.version, config_of(zone), Jsonb(p.initial_state())))
            elif (row["version"], row["config"]) != (p.version, config_of(zone)):
                stale.append(p)
    for p in stale:
        log.info("projection_rebuild_on_start", projection=p.name, version=p.version)
        rebuild(pool, [p], zone, schema=schema, progress=progress)


def _has_partitions(conn, schema: str) -> bool:
    found = conn.execute("SELECT to_regclass(%s) AS t", (f'"{schema}".projection_partitions',))
    return found.fetchone()["t"] is not None


def _grant_to_bi_roles(conn, schema: str) -> None:
    """Tables moved in by a rebuild are new objects: the BI roles get SELECT on them again."""
    if conn.execute("SELECT to_regclass('csm_bi_roles') AS t").fetchone()["t"] is None:
        return
    for r in conn.execute("SELECT role FROM csm_bi_roles").fetchall():
        conn.execute(SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            Identifier(schema), Identifier(r["role"])))


def build_into(pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo,
               schema: str, upto: int, progress: Callable[[int], None] | None = None,
               views: bool = False) -> Runner:
    """Creates the projections' tables in a new schema and replays the store into them up
    to position `upto` (see `replay`), making the indexes for queries last; the runner
    returned says how far it got."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(STATUS_DDL.format(schema=schema))
        for p in projections:
            _create(conn, p, schema, views=views, indexes=False)
            conn.execute(f'INSERT INTO "{schema}".projection_status (name, version, config, '
                         f'position, state) VALUES (%s, %s, %s, 0, %s)',
                         (p.name, p.version, config_of(zone), Jsonb(p.initial_state())))
    replay(pool, projections, zone, schema, upto, progress)
    with pool.connection() as conn, conn.transaction():
        for p in projections:
            for t in p.tables:
                for statement in t.index_ddl(schema):
                    conn.execute(statement)
    return Runner(pool, projections, zone, schema=schema)


def rebuild(pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo, *,
            schema: str = READ_SCHEMA, upto: int | None = None,
            progress: Callable[[str, int], None] | None = None) -> int:
    """Rebuilds into fresh tables and swaps them in; returns the position they reached."""
    build = f"csm_build_{uuid.uuid4().hex[:12]}"
    names = ",".join(p.name for p in projections)
    try:
        # Up to the head as it is now; what arrives meanwhile is applied under the lock below.
        bound = upto if upto is not None else head_position(pool)
        runner = build_into(pool, projections, zone, build, bound,
                            (lambda pos: progress(names, pos)) if progress else None)
        with pool.connection() as conn, conn.transaction():
            conn.execute(STATUS_DDL.format(schema=schema))
            names_ = [p.name for p in projections]
            fed_by_kafka = _has_partitions(conn, schema)
            if fed_by_kafka:  # lock in the order a Kafka projector does: partitions, status
                conn.execute(f'SELECT 1 FROM "{schema}".projection_partitions WHERE name = ANY(%s)'
                             f' FOR UPDATE', (names_,))
            conn.execute(f'SELECT name FROM "{schema}".projection_status WHERE name = ANY(%s) '
                         f'FOR UPDATE', (names_,))
            final = head_position(pool) if upto is None else upto
            while late := read_events(pool, runner.position, BATCH, final, runner.types):
                runner.apply(late, conn=conn)
            for p in projections:
                for t in p.tables:
                    conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{t.name}" CASCADE')
                    conn.execute(f'ALTER TABLE "{build}"."{t.name}" SET SCHEMA "{schema}"')
                for view in p.views:
                    conn.execute(view.format(schema=schema))
                conn.execute(
                    f'INSERT INTO "{schema}".projection_status AS s (name, version, config, '
                    f'position, state) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE '
                    f'SET version = excluded.version, config = excluded.config, '
                    f'position = excluded.position, state = excluded.state, updated_at = now()',
                    (p.name, p.version, config_of(zone), runner.positions[p.name],
                     Jsonb(runner.states[p.name])))
                clear_failure(conn, schema, p.name)  # rebuilt past any event it had stopped at
                if fed_by_kafka:  # the consumers skip what the new tables already hold
                    conn.execute(
                        f'UPDATE "{schema}".projection_partitions SET state = %s, '
                        f'position = greatest(position, %s) WHERE name = %s',
                        (Jsonb(runner.states[p.name]), runner.positions[p.name], p.name))
            conn.execute(f'DROP SCHEMA "{build}" CASCADE')
            _grant_to_bi_roles(conn, schema)
    except BaseException:
        with pool.connection() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{build}" CASCADE')
        raise
    log.info("projection_rebuilt", projections=names, position=runner.position)
    return runner.position
