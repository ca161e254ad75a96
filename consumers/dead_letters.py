"""The dead letters sent so far (`csm_dead_letters`): one DLQ record per bad message.

A message is known by the SHA-256 of its key and bytes. One refused again — an
adapter that sends it again, a redelivery after a crash — is not put on the
DLQ a second time; a message that reuses a `message_id` with another body is,
every time (each is another attempt to change what was recorded). A row is
written only once its DLQ record is acknowledged, so none can stand for a
dead letter that is not there.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg_pool import ConnectionPool


def digest(key: bytes | None, value: bytes | None) -> str:
    """The same key and bytes (a tombstone and an empty message differ)."""
    h = hashlib.sha256()
    for part in (key, value):
        h.update(b"-" if part is None else b"%d:" % len(part) + part)
    return h.hexdigest()


@dataclass(frozen=True)
class Letter:
    digest: str
    message_id: str | None
    error: str
    origin: tuple[str, int, int]


def already_sent(pool: ConnectionPool, digests: list[str]) -> set[str]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT digest FROM csm_dead_letters WHERE digest = ANY(%s)",
                            (digests,)).fetchall()
    return {r["digest"] for r in rows}


def remember(pool: ConnectionPool, letters: list[Letter]) -> None:
    if not letters:
        return
    with pool.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO csm_dead_letters AS d (digest, message_id, error, original_topic, "
            "original_partition, original_offset) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (digest) DO UPDATE SET times = d.times + 1, error = excluded.error, "
            "last_at = now()",
            [(x.digest, x.message_id, x.error, *x.origin) for x in letters])
