"""Waiting for the Kafka parts: where each projection and the relay stand, and waiting until
they have caught up with the store."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from csm.projections.registry import ALL


def progress(url_or_pool: Any, topic: str) -> dict[str, Any]:
    """Head of the store, relay position, projection positions, inbound records."""
    with _conn(url_or_pool) as conn:
        h = _get(conn.execute("SELECT coalesce(max(notification_id), 0) AS h FROM csm_events"
                              ).fetchone(), "h")
        relay = conn.execute("SELECT position FROM csm_relay_progress WHERE topic = %s",
                             (topic,)).fetchone()
        try:
            rows = conn.execute("SELECT name, position FROM csm_read.projection_status"
                                ).fetchall()
        except psycopg.errors.UndefinedTable:
            conn.rollback()
            rows = []
        inbound = _get(conn.execute("SELECT count(*) AS n FROM csm_idempotency WHERE scope = "
                                    "'inbound'").fetchone(), "n")
    positions = {_get(r, "name", 0): _get(r, "position", 1) for r in rows}
    return {"head": h, "relay": _get(relay, "position") if relay else 0,
            "projections": positions, "inbound": inbound}


def wait_caught_up(url_or_pool: Any, topic: str, timeout: float, *,
                   inbound: int | None = None, alive: Callable[[], None] | None = None,
                   stable: float = 1.0) -> dict[str, Any]:
    """Until the relay and every projection reached the head of the store (and the
    inbound consumer recorded `inbound` messages), and it stayed so `stable` seconds."""
    deadline = time.monotonic() + timeout
    since = None
    while True:
        p = progress(url_or_pool, topic)
        done = (p["relay"] >= p["head"] and len(p["projections"]) == len(ALL)
                and all(v >= p["head"] for v in p["projections"].values())
                and (inbound is None or p["inbound"] >= inbound))
        if done:
            since = since or (time.monotonic(), p["head"])
            if since[1] != p["head"]:
                since = (time.monotonic(), p["head"])
            elif time.monotonic() - since[0] >= stable:
                return p
        else:
            since = None
        if alive:
            alive()
        assert time.monotonic() < deadline, f"not caught up after {timeout} s: {p}"
        time.sleep(0.2)


class _conn:
    """A connection from a pool, or a new one from a URL."""

    def __init__(self, source: Any):
        self.source, self.cm = source, None

    def __enter__(self) -> Any:
        if isinstance(self.source, psycopg.Connection):
            return self.source     # the caller's own connection: stays open
        if isinstance(self.source, str):
            self.cm = psycopg.connect(self.source, autocommit=True)
        else:
            self.cm = self.source.connection()
        return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self.cm.__exit__(*exc) if self.cm is not None else None


def _get(row: Any, key: str, index: int = 0) -> Any:
    return row[key] if isinstance(row, dict) else row[index]
