"""A stream's past in the event store: which version it had reached by a moment.

Each lookup is one probe of an index — (stream id, version), or (stream id, recorded_at)
for a moment — never a scan of the stream's history.
"""
from __future__ import annotations

from datetime import datetime

from psycopg_pool import ConnectionPool

from csm.projections.pg_names import EVENTS


def version_at(pool: ConnectionPool, stream_id: str, as_of: datetime | None = None,
               version: int | None = None) -> tuple[int, datetime] | None:
    """(version, recorded_at) of the stream's last event recorded by `as_of`, of `version`,
    or (with neither) of its last event; None if there is no such event."""
    with pool.connection() as conn:
        if version is not None:
            row = conn.execute(f"SELECT originator_version AS v, recorded_at FROM {EVENTS} "
                               f"WHERE originator_id = %s AND originator_version = %s",
                               (stream_id, version)).fetchone()
        elif as_of is not None:
            row = conn.execute(f"SELECT originator_version AS v, recorded_at FROM {EVENTS} "
                               f"WHERE originator_id = %s AND recorded_at <= %s "
                               f"ORDER BY recorded_at DESC, originator_version DESC LIMIT 1",
                               (stream_id, as_of)).fetchone()
        else:
            row = conn.execute(f"SELECT originator_version AS v, recorded_at FROM {EVENTS} "
                               f"WHERE originator_id = %s ORDER BY originator_version DESC "
                               f"LIMIT 1", (stream_id,)).fetchone()
    return (row["v"], row["recorded_at"]) if row else None
