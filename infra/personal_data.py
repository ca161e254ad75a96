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
from base64 import b64decode, b64encode
from typing import Any

import orjson
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import Environment, get_topic
from psycopg_pool import ConnectionPool

from csm.domain.errors import InvalidTransition
from csm.domain.event_types import AGGREGATE_OF, event_class, stored_topic

ENVELOPE = "_pii"


def _cipher(key_b64: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key_b64}))


class PersonalKeys:
    """Data keys per subject, created on first use, cached, destroyable."""

    def __init__(self, pool: ConnectionPool, master_key_b64: str):
        self.pool = pool
        self.master = _cipher(master_key_b64)
        self._cache: dict[str, AESCipher | None] = {}
        self._lock = threading.Lock()

    def cipher(self, subject: str, create: bool) -> AESCipher | None:
        with self._lock:
            if subject in self._cache and (self._cache[subject] is not None or not create):
                return self._cache[subject]
        with self.pool.connection() as conn:
            row = None
            if create:
                fresh = self.master.encrypt(AESCipher.create_key(32).encode())
                row = conn.execute("INSERT INTO csm_personal_keys (subject, wrapped_key) "
                                   "VALUES (%s, %s) ON CONFLICT (subject) DO NOTHING "
                                   "RETURNING wrapped_key, erased_at", (subject, fresh)).fetchone()
            if row is None:
                row = conn.execute("SELECT wrapped_key, erased_at FROM csm_personal_keys "
                                   "WHERE subject = %s", (subject,)).fetchone()
        cipher = None
        if row and row["wrapped_key"] is not None:
            cipher = _cipher(self.master.decrypt(bytes(row["wrapped_key"])).decode())
        elif row and create:
            raise InvalidTransition(f"the personal data of '{subject}' has been erased; "
                                    "nothing new can be recorded under it")
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[subject] = cipher
        return cipher

    def warm(self, subjects: set[str]) -> None:
        """Creates or loads many subjects' keys in two round trips (the batch path)."""
        with self._lock:
            missing = [s for s in subjects if self._cache.get(s) is None]
        if not missing:
            return
        fresh = [self.master.encrypt(AESCipher.create_key(32).encode()) for _ in missing]
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO csm_personal_keys (subject, wrapped_key) "
                         "SELECT * FROM unnest(%s::text[], %s::bytea[]) "
                         "ON CONFLICT (subject) DO NOTHING", (missing, fresh))
            rows = conn.execute("SELECT subject, wrapped_key FROM csm_personal_keys "
                                "WHERE subject = ANY(%s)", (missing,)).fetchall()
        ciphers = {r["subject"]: _cipher(self.master.decrypt(bytes(r["wrapped_key"])).decode())
                   for r in rows if r["wrapped_key"] is not None}
        with self._lock:
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
