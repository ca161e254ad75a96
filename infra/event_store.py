"""The application bound to PostgreSQL: the library's recorder with hooks in its transaction."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from csm.domain.csm import CsmApplication
from csm.infra.personal_data import PersonalDataMapper, PersonalKeys
from csm.infra.schema import EVENTS

TxHook = Callable[[Any, Sequence[int]], None]


class HookedRecorder(PostgresApplicationRecorder):
    """Records events and runs the caller's hooks in one transaction.

    The library's own insert retries broken connections ten times; a command
    must instead fail fast (503) and leave nothing behind, so this is one
    attempt in one explicit transaction.
    """

    def insert_events(self, stored_events: Sequence[StoredEvent], *, tracking: Any = None,
                      hooks: Sequence[TxHook] = (), **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        rows = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic,
                                               e.state) for e in stored_events]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement, prepare=True)
            curs.execute(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))
            curs.execute(self.insert_events_statement, (rows,), prepare=True)
            ids = [r["notification_id"] for r in curs.fetchall()]
            for hook in hooks:
                hook(curs, ids)
        return ids


class PostgresCsm(CsmApplication):
    """CsmApplication on PostgreSQL with personal data encrypted per customer."""

    name = "csm"

    def __init__(self, env: dict[str, str], keys: PersonalKeys):
        self.keys = keys
        super().__init__(env=env)

    def construct_mapper(self) -> PersonalDataMapper:
        return PersonalDataMapper(self.construct_transcoder(), self.keys)

    def construct_recorder(self) -> HookedRecorder:
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        recorder = HookedRecorder(datastore, events_table_name=EVENTS)
        if self.factory.env_create_table():  # type: ignore[attr-defined]
            # Parts started at the same moment would race on the library's DDL.
            with datastore.get_connection() as conn:
                conn.execute("SELECT pg_advisory_lock(7311000)")
                try:
                    recorder.create_table()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(7311000)")
        return recorder

    def prepare_save(self, aggregates: list[Any]) -> None:
        subjects = {e.personal_subject() for a in aggregates for e in a.pending_events
                    if any(getattr(e, f, None) is not None for f in type(e).PERSONAL)}
        self.keys.warm(subjects)

    def erase_customer(self, customer_id: str, reason: str | None, now: Any,
                       hooks: Sequence[Any] = ()) -> Any:
        destroy = lambda curs, ids, answer: self.keys.destroy_in(curs, customer_id)  # noqa: E731
        recorded = super().erase_customer(customer_id, reason, now, hooks=[destroy, *hooks])
        self.keys.forget(customer_id)
        return recorded
