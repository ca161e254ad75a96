"""Reading the event store in position order, for the runner and for rebuilds."""
from __future__ import annotations

from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from csm.projections.pg_names import EVENTS
from csm.projections.events import Ev, decode_stored, type_of_topic

SELECT = (f"SELECT notification_id, originator_id, originator_version, topic, state "
          f"FROM {EVENTS} WHERE notification_id > %s AND notification_id <= %s "
          f"ORDER BY notification_id LIMIT %s")


def read_events(pool: ConnectionPool, after: int, limit: int, upto: int | None = None,
                types: frozenset[str] | None = None) -> list[Ev]:
    """Events in position order; with `types`, only those are decoded (others keep their place)."""
    with pool.connection() as conn:
        cur = conn.cursor(row_factory=tuple_row)
        rows = cur.execute(SELECT, (after, upto if upto is not None else 2**62, limit),
                           binary=True).fetchall()
    if types is None:
        return [_decoded(r) for r in rows]
    return [_decoded(r) if type_of_topic(r[3]) in types else
            Ev(r[0], r[1], r[2], type_of_topic(r[3]), None, {}) for r in rows]


def _decoded(row: tuple) -> Ev:
    """An event that cannot be decoded keeps its place with `data` None: the projections
    that handle its type stop at it (the runner says so), the others go on."""
    try:
        return decode_stored(*row)
    except (ValueError, KeyError, TypeError):
        return Ev(row[0], row[1], row[2], type_of_topic(row[3]), None, None)


def head_position(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute(f"SELECT coalesce(max(notification_id), 0) AS p FROM {EVENTS}").fetchone()
    return row["p"]


def position_as_of(pool: ConnectionPool, as_of) -> int:
    """The last position recorded at or before a time (0: none).

    Writers are serialised by the table lock, so recorded_at rises with position: a binary
    search over positions takes some 20 index probes for a million events. The SHARE lock
    first waits for a transaction still recording (its events could be stamped before
    `as_of`); any later one is stamped after.
    """
    with pool.connection() as conn, conn.transaction():
        conn.execute(f"LOCK TABLE {EVENTS} IN SHARE MODE")
        lo, hi = 0, conn.execute(f"SELECT coalesce(max(notification_id), 0) AS p FROM {EVENTS}"
                                 ).fetchone()["p"]
        while lo < hi:  # every event up to lo was recorded by as_of; none after hi was
            mid = (lo + hi + 1) // 2
            row = conn.execute(f"SELECT notification_id AS p, recorded_at FROM {EVENTS} "
                               f"WHERE notification_id >= %s ORDER BY notification_id LIMIT 1",
                               (mid,)).fetchone()
            if row["recorded_at"] <= as_of:
                lo = row["p"]
            else:
                hi = mid - 1
    return lo
