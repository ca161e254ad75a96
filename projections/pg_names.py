"""Names that several parts share in PostgreSQL: the events table, the read models' schema and
the advisory locks.

Each advisory lock id serialises one kind of DDL between processes started
at the same moment; the ids only need to differ from each other.
"""

EVENTS = "csm_events"
READ_SCHEMA = "csm_read"

EVENT_TABLE_LOCK = 7311000   # the library's event table
EVENT_SCHEMA_LOCK = 7311001  # the store's support tables and hash chain
READ_SCHEMA_LOCK = 7311002   # the read models' tables, views and status rows
CHECKPOINT_LOCK = 7311004    # one checkpointer signs at a time
