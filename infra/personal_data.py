"""Personal data encrypted under a per-customer key; erasing a customer destroys that key.

Each customer (or, for anonymous records, each stream) has a random AES-256
data key, stored wrapped by `CSM_CIPHER_KEY`. The mapper replaces every field
an event names in `PERSONAL` by `{"_pii": subject, "ct": base64}` before the
event is stored, so neither the events table nor the Kafka topic ever holds
it in clear. Once the key is destroyed the field reads back as None.

Events are stored under their stable topic (domain/event_types.py), not a Python
path; a created event leaves out the path of its aggregate class, which its own
class implies, and gets it back when it is read.
"""
from __future__ import annotations

import threading
import time
from base64 import b64decode, b64encode
from typing import Any

import orjson
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import Environment, get_topic
from psycopg_pool import ConnectionPool

from csm.domain.errors import InvalidTransition, StoreRace
from csm.domain.event_types import AGGREGATE_OF, event_class, stored_topic

ENVELOPE = "_pii"


MAX_PENDING = 10_000
PENDING_SECONDS = 600.0
# Inserts the pending keys; answers the subjects that already had another key (or none,
# erased). The join sees the table as it was before this statement: a key stored by this
# very statement is not a clash; one committed meanwhile by a racing insert is reported.
STORE_PENDING = """
WITH mine(subject, wrapped_key) AS (SELECT * FROM unnest(%s::text[], %s::bytea[])),
made AS (INSERT INTO csm_personal_keys (subject, wrapped_key) SELECT * FROM mine
         ON CONFLICT (subject) DO NOTHING RETURNING subject)
SELECT m.subject FROM mine m LEFT JOIN csm_personal_keys k ON k.subject = m.subject
WHERE m.subject NOT IN (SELECT subject FROM made)
  AND k.wrapped_key IS DISTINCT FROM m.wrapped_key"""


def _cipher(key_b64: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key_b64}))


class PersonalKeys:
    """Data keys per subject: created on first use, cached, destroyable.

    A subject without a stored key gets a new one here, pending: the transaction that records
    its first events stores it (`store_in`), so no transaction of its own is needed. Should
    another process have stored a key for the subject meanwhile, that transaction stops with
    `StoreRace` and the command is decided again under the stored key. A pending key leaves
    the pending set only once stored (or refused), so no event is ever encrypted under a key
    that is not stored with it; one left by a unit that failed is kept for the next attempt
    and dropped after PENDING_SECONDS when many pile up.
    """

    def __init__(self, pool: ConnectionPool, master_key_b64: str):
        self.pool = pool
        self.master = _cipher(master_key_b64)
        self._cache: dict[str, AESCipher | None] = {}  # stored keys; None: erased or absent
        self._pending: dict[str, tuple[bytes, AESCipher, float]] = {}  # wrapped, cipher, since
        self._lock = threading.Lock()

    def cipher(self, subject: str, create: bool) -> AESCipher | None:
        """The subject's key: the stored one, or (`create`) a pending one made by `warm`;
        None to read when it has none. Creating under an erased subject is refused."""
        if create:
            found = self._known(subject)
            if found is None:
                self.warm({subject})
                found = self._known(subject)
            if found is None:
                raise InvalidTransition(f"the personal data of '{subject}' has been erased; "
                                        "nothing new can be recorded under it")
            return found
        with self._lock:
            if subject in self._cache:
                return self._cache[subject]
        with self.pool.connection() as conn:
            row = conn.execute("SELECT wrapped_key FROM csm_personal_keys WHERE subject = %s",
                               (subject,)).fetchone()
        cipher = None
        if row and row["wrapped_key"] is not None:
            cipher = _cipher(self.master.decrypt(bytes(row["wrapped_key"])).decode())
        self._keep({subject: cipher})
        return cipher

    def _known(self, subject: str) -> AESCipher | None:
        with self._lock:
            found = self._cache.get(subject)
            if found is None and subject in self._pending:
                found = self._pending[subject][1]
            return found

    def warm(self, subjects: set[str]) -> None:
        """Loads the stored keys of these subjects in one query; makes a pending key for each
        subject that has none (an erased subject keeps none: `cipher` refuses it)."""
        now = time.monotonic()
        with self._lock:
            missing = []
            for s in subjects:
                if self._cache.get(s) is not None:
                    continue
                if s in self._pending:  # relied on again: not stale
                    wrapped, cipher, _ = self._pending[s]
                    self._pending[s] = (wrapped, cipher, now)
                else:
                    missing.append(s)
        if not missing:
            return
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT subject, wrapped_key FROM csm_personal_keys "
                                "WHERE subject = ANY(%s)", (missing,)).fetchall()
        stored = {r["subject"]: _cipher(self.master.decrypt(bytes(r["wrapped_key"])).decode())
                  for r in rows if r["wrapped_key"] is not None}
        erased = {r["subject"] for r in rows if r["wrapped_key"] is None}
        fresh = {}
        for s in missing:
            if s not in stored and s not in erased:
                key = AESCipher.create_key(32)
                fresh[s] = (self.master.encrypt(key.encode()), _cipher(key), now)
        self._keep(stored)
        with self._lock:
            if len(self._pending) > MAX_PENDING:
                self._pending = {s: p for s, p in self._pending.items()
                                 if now - p[2] < PENDING_SECONDS}
            for s, p in fresh.items():
                self._pending.setdefault(s, p)

    def store_in(self, curs: Any, subjects: set[str]) -> None:
        """Stores the pending keys of these subjects inside the caller's transaction.

        Raises StoreRace, having dropped the pending key, for a subject that another key was
        stored for meanwhile (or that was erased): the events encrypted under the pending one
        must not be recorded."""
        with self._lock:
            mine = [(s, self._pending[s][0]) for s in subjects if s in self._pending]
        if not mine:
            return
        clashes = curs.execute(STORE_PENDING, ([s for s, _ in mine], [w for _, w in mine]))
        taken = [r["subject"] for r in clashes.fetchall()]
        if taken:
            with self._lock:
                for s in taken:
                    self._pending.pop(s, None)
            raise StoreRace(f"a key was stored meanwhile for {len(taken)} subject(s)")

    def stored(self, subjects: set[str]) -> None:
        """The transaction that stored these subjects' pending keys committed."""
        with self._lock:
            done = {s: self._pending.pop(s)[1] for s in subjects if s in self._pending}
        self._keep(done)

    def _keep(self, ciphers: dict[str, AESCipher | None]) -> None:
        if not ciphers:
            return
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache.update(ciphers)

    def destroy_in(self, curs: Any, subject: str) -> None:
        """Destroys the key inside the caller's transaction (with the erasure event)."""
        curs.execute("INSERT INTO csm_personal_keys (subject, wrapped_key, erased_at) "
                     "VALUES (%s, NULL, now()) ON CONFLICT (subject) DO UPDATE "
                     "SET wrapped_key = NULL, erased_at = now()", (subject,))

    def forget(self, subject: str) -> None:
        with self._lock:
            self._cache[subject] = None


class PersonalDataMapper(Mapper[str]):
    """The library's mapper, with PERSONAL fields encrypted under their subject's key."""

    def __init__(self, transcoder: Any, keys: PersonalKeys):
        super().__init__(transcoder=transcoder)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[str]) -> StoredEvent:
        personal = getattr(type(domain_event), "PERSONAL", ())
        state = dict(vars(domain_event))
        if personal and any(state.get(f) is not None for f in personal):
            subject = domain_event.personal_subject()  # type: ignore[attr-defined]
            cipher = self.keys.cipher(subject, create=True)
            assert cipher is not None
            for f in personal:
                if state.get(f) is not None:
                    ct = cipher.encrypt(orjson.dumps(state[f]))
                    state[f] = {ENVELOPE: subject, "ct": b64encode(ct).decode()}
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state.pop("originator_topic", None)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=stored_topic(type(domain_event)),
                           state=self.transcoder.encode(state))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[str]:
        cls = event_class(stored_event.topic)
        state = self.transcoder.decode(stored_event.state)
        if cls in AGGREGATE_OF:  # where the aggregate class is now, not the path stored before
            state["originator_topic"] = get_topic(AGGREGATE_OF[cls])
        for f in getattr(cls, "PERSONAL", ()):
            state[f] = self.reveal(state.get(f))
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def reveal(self, value: Any) -> Any:
        """The clear value of an encrypted field, or None once its key is destroyed."""
        if not (isinstance(value, dict) and ENVELOPE in value):
            return value
        cipher = self.keys.cipher(value[ENVELOPE], create=False)
        if cipher is None:
            return None
        return orjson.loads(cipher.decrypt(b64decode(value["ct"])))
