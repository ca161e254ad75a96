"""Verifying the hash chain of the event store (`csm verify`)."""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from csm.infra.schema import EVENTS


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_position: int | None
    reason: str | None = None  # what is wrong at first_bad_position

    def as_dict(self) -> dict:
        return {"ok": self.ok, "events_checked": self.events_checked,
                "first_bad_position": self.first_bad_position, "reason": self.reason}


def event_hash(prev: bytes, position: int, version: int, stream_id: str, topic: str,
               recorded_micros: int, state: bytes) -> bytes:
    """The same digest as the `csm_chain_event` trigger computes."""
    sid, top = stream_id.encode(), topic.encode()
    return hashlib.sha256(b"".join((
        prev, struct.pack(">q", position), struct.pack(">q", version),
        struct.pack(">i", len(sid)), sid, struct.pack(">i", len(top)), top,
        struct.pack(">q", recorded_micros), state))).digest()


def verify_chain(pool: ConnectionPool, progress: Callable[[int], None] | None = None
                 ) -> ChainReport:
    """Recomputes every hash in position order; an edited, removed or inserted row breaks it.

    `progress` is called with the number of events checked so far, last with the total.
    """
    prev, checked, last_position = b"", 0, 0
    with pool.connection() as conn, conn.transaction(), conn.cursor(name="chain") as cur:
        cur.itersize = 5000
        cur.execute(
            f"SELECT notification_id, originator_version, originator_id, topic, "
            f"(extract(epoch FROM recorded_at) * 1000000)::bigint AS micros, state, hash "
            f"FROM {EVENTS} ORDER BY notification_id")
        for row in cur:
            expected = event_hash(prev, row["notification_id"], row["originator_version"],
                                  row["originator_id"], row["topic"], row["micros"] or 0,
                                  bytes(row["state"]))
            if row["hash"] is None or bytes(row["hash"]) != expected:
                if progress:
                    progress(checked + 1)
                return ChainReport(False, checked + 1, row["notification_id"],
                                   "the event has no hash" if row["hash"] is None else
                                   "the stored hash does not match this event and the one "
                                   "before it: edited, or a row removed or inserted before it")
            prev, last_position = expected, row["notification_id"]
            checked += 1
            if progress and checked % 5000 == 0:
                progress(checked)
        head = conn.execute("SELECT position, hash FROM csm_chain_head WHERE id = 1").fetchone()
    if progress:
        progress(checked)
    if head and checked and (head["position"] != last_position or bytes(head["hash"]) != prev):
        # Rows at the end were removed: the chain head still names the last one written.
        return ChainReport(False, checked, last_position + 1,
                           f"events after position {last_position} were removed: the chain "
                           f"head names position {head['position']}")
    return ChainReport(True, checked, None)
