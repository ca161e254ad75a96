"""The read-model schema and `projection_status`: each projection's version, position, state."""
from __future__ import annotations

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
-- Projectors fed from Kafka: per partition, where to read next, the highest position
-- applied (or watermark seen) and the projection state as that partition saw it.
CREATE TABLE IF NOT EXISTS "{schema}".projection_partitions (
    name text NOT NULL, topic text NOT NULL, partition int NOT NULL,
    next_offset bigint NOT NULL, position bigint NOT NULL, state jsonb,
    PRIMARY KEY (name, topic, partition)
)"""


def load_status(pool: ConnectionPool, schema: str, names: list[str]
                ) -> dict[str, tuple[int, dict[str, Any] | None]]:
    with pool.connection() as conn:
        rows = conn.execute(f'SELECT name, position, state FROM "{schema}".projection_status '
                            f'WHERE name = ANY(%s)', (names,)).fetchall()
    return {r["name"]: (r["position"], r["state"]) for r in rows}


def describe(pool: ConnectionPool, schema: str = "csm_read") -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return conn.execute(f'SELECT name, version, position, updated_at FROM "{schema}".'
                            f'projection_status ORDER BY name').fetchall()
