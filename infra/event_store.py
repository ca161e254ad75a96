"""The application bound to PostgreSQL: the library's recorder with steps in its transaction."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from csm.domain.csm import CsmApplication
from csm.domain.customer import Customer
from csm.infra.chain import HEAD_BEFORE, RETURNING_FOR_SEALS, record_seals
from csm.infra.command_metrics import count_command, count_events
from csm.infra.personal_data import PersonalDataMapper, PersonalKeys
from csm.projections.pg_names import EVENT_TABLE_LOCK
from csm.projections.pg_names import EVENTS

TxHook = Callable[[Any, Sequence[int]], None]


class HookedRecorder(PostgresApplicationRecorder):
    """Records events, seals them and runs the unit of work's steps in one transaction.

    The library's own insert retries broken connections ten times; a command
    must instead fail fast (503) and leave nothing behind, so this is one
    attempt in one explicit transaction.
    """

    def __init__(self, datastore: Any, *, events_table_name: str, chain_key: bytes):
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_key = chain_key
        # The trigger computes each hash; the seals over them are made here, with the key.
        self.insert_and_hash = SQL(HEAD_BEFORE) + self.insert_events_statement + SQL(
            RETURNING_FOR_SEALS)
        self.notify = SQL("NOTIFY {0}").format(Identifier(self.channel_name))

    def insert_events(self, stored_events: Sequence[StoredEvent], *, tracking: Any = None,
                      hooks: Sequence[TxHook] = (), **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        rows = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic,
                                               e.state) for e in stored_events]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            with conn.pipeline():  # lock, notify and insert in one round trip
                for statement in self.lock_table_statements:
                    conn.execute(statement, prepare=True)
                conn.execute(self.notify)
                curs.execute(self.insert_and_hash, (rows,), prepare=True)
                inserted = curs.fetchall()
            ids = record_seals(curs, self.chain_key, inserted)
            for hook in hooks:
                hook(curs, ids)
        return ids


class PostgresCsm(CsmApplication):
    """CsmApplication on PostgreSQL with personal data encrypted per customer."""

    name = "csm"

    def __init__(self, env: dict[str, str], keys: PersonalKeys, chain_key: bytes):
        self.keys, self.chain_key = keys, chain_key
        super().__init__(env=env)

    def construct_mapper(self) -> PersonalDataMapper:
        return PersonalDataMapper(self.construct_transcoder(), self.keys)

    def construct_recorder(self) -> HookedRecorder:
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        recorder = HookedRecorder(datastore, events_table_name=EVENTS, chain_key=self.chain_key)
        if self.factory.env_create_table():  # type: ignore[attr-defined]
            # Parts started at the same moment would race on the library's DDL.
            with datastore.get_connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (EVENT_TABLE_LOCK,))
                try:
                    recorder.create_table()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (EVENT_TABLE_LOCK,))
        return recorder

    def prepare_save(self, aggregates: list[Any]) -> None:
        self.keys.warm(_subjects(e for a in aggregates for e in a.pending_events))

    def recording_steps(self, events: list[Any]) -> list[TxHook]:
        """The new subjects' keys are stored in the transaction that records their first
        events; an erasure destroys the customer's key in the transaction that records it."""
        subjects = _subjects(events)
        erased = [e.originator_id for e in events if isinstance(e, Customer.Erased)]
        return [lambda curs, ids: self.keys.store_in(curs, subjects),
                *(lambda curs, ids, subject=s: self.keys.destroy_in(curs, subject)
                  for s in erased)]

    def handle(self, command: Any, in_transaction: Sequence[Any] = ()) -> Any:
        """The service layer's `handle`, counted (`csm_commands_total`) when it records on its
        own; inside a unit of work whoever records the unit counts."""
        if self.uow is not None:
            return super().handle(command, in_transaction)
        try:
            recorded = super().handle(command, in_transaction)
        except Exception as exc:
            count_command(command, exc)
            raise
        count_command(command)
        return recorded

    def recorded(self, events: list[Any]) -> None:
        count_events(events)
        self.keys.stored(_subjects(events))
        for e in events:
            if isinstance(e, Customer.Erased):
                self.keys.forget(e.originator_id)


def _subjects(events: Any) -> set[str]:
    """The subjects whose keys encrypt these events' personal fields."""
    return {e.personal_subject() for e in events
            if any(getattr(e, f, None) is not None for f in type(e).PERSONAL)}
