"""The read-model schema and `projection_status`: each projection's version, position, state,
and the event it cannot apply, if any."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

STATUS_DDL = """
CREATE SCHEMA IF NOT EXISTS "{schema}";
CREATE TABLE IF NOT EXISTS "{schema}".projection_status (
    name text PRIMARY KEY,
    version int NOT NULL,
    config text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    state jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Databases created before projections could fail alone get the failure columns too; checked
-- first, so that an up-to-date table is not locked for a no-op ALTER.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = '{schema}'
                   AND table_name = 'projection_status' AND column_name = 'failures') THEN
        ALTER TABLE "{schema}".projection_status
            ADD COLUMN IF NOT EXISTS failed_position bigint,
            ADD COLUMN IF NOT EXISTS failed_event_id text,
            ADD COLUMN IF NOT EXISTS failed_error text,
            ADD COLUMN IF NOT EXISTS failed_since timestamptz,
            ADD COLUMN IF NOT EXISTS failures bigint NOT NULL DEFAULT 0;
    END IF;
END $$;
-- Projectors fed from Kafka: per partition, where to read next, the highest position
-- applied (or watermark seen) and the projection state as that partition saw it.
CREATE TABLE IF NOT EXISTS "{schema}".projection_partitions (
    name text NOT NULL, topic text NOT NULL, partition int NOT NULL,
    next_offset bigint NOT NULL, position bigint NOT NULL, state jsonb,
    PRIMARY KEY (name, topic, partition)
)"""


@dataclass(frozen=True)
class Stored:
    position: int
    state: dict[str, Any] | None
    failed_position: int | None = None
    failed_event_id: str | None = None
    failed_error: str | None = None


def load_status(pool: ConnectionPool, schema: str, names: list[str]) -> dict[str, Stored]:
    with pool.connection() as conn:
        rows = conn.execute(f'SELECT name, position, state, failed_position, failed_event_id, '
                            f'failed_error FROM "{schema}".projection_status '
                            f'WHERE name = ANY(%s)', (names,)).fetchall()
    return {r["name"]: Stored(r["position"], r["state"], r["failed_position"],
                              r["failed_event_id"], r["failed_error"]) for r in rows}


def record_failure(conn: Any, schema: str, name: str, position: int, event_id: str,
                   error: str) -> None:
    """Keeps the first time it failed; a new failure (not a retry of the same) is counted."""
    conn.execute(
        f'UPDATE "{schema}".projection_status SET failed_error = %(error)s, '
        f'failures = failures + (failed_position IS DISTINCT FROM %(position)s)::int, '
        f'failed_since = CASE WHEN failed_position IS NOT DISTINCT FROM %(position)s '
        f'THEN failed_since ELSE now() END, '
        f'failed_position = %(position)s, failed_event_id = %(event_id)s WHERE name = %(name)s',
        {"error": error[:2000], "position": position, "event_id": event_id, "name": name})


def clear_failure(conn: Any, schema: str, name: str) -> None:
    conn.execute(f'UPDATE "{schema}".projection_status SET failed_position = NULL, '
                 f'failed_event_id = NULL, failed_error = NULL, failed_since = NULL '
                 f'WHERE name = %s AND failed_position IS NOT NULL', (name,))
