"""Tamper evidence of the event store: hash chain, seals, and their verification.

Each event carries `hash = SHA-256(prev hash ‖ position ‖ version ‖ stream id ‖ topic ‖
recorded_at µs ‖ state)`, computed by the `csm_chain_event` trigger (infra/schema.py), and
a seal that csm writes in the recording transaction: `HMAC-SHA256(CSM_CHAIN_KEY, hash ‖
prev_position ‖ ordinal)`, where `prev_position` is the event recorded just before it and
`ordinal` counts the sealed events up to it. Anyone can recompute the chain; only csm can
seal, so a row written with SQL — even one that recomputes every later hash — is found.

Telling a gap the database left from a removed row: a rolled-back transaction consumes
sequence values but leaves no row and no seal, and the next committed event is chained
to, and sealed after, the last committed one. A removed row leaves the event after it
naming (in its seal) a predecessor that is gone and counting one more event than the log
holds — or it leaves its own seal behind. So a gap whose next event names the event before
the gap is the database's; otherwise the missing position is named. Events recorded
before seals existed rely on the chain alone: there, a gap across which the chain does not
link is a removal, reported at its first position.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import pq
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from csm.infra import checkpoints
from csm.infra.checkpoints import Checkpoint
from csm.projections.pg_names import EVENTS
from csm.infra.secrets import AuditKeys

Progress = Callable[[int], None] | None
PROGRESS_EVERY = 10_000
CLAIMS = struct.Struct(">qq")  # prev_position, ordinal

try:  # OpenSSL's HMAC object itself: `hmac.HMAC` wraps each copy in Python, twice as slow
    from _hashlib import hmac_new as _openssl_hmac

    def new_mac(key: bytes) -> Any:
        return _openssl_hmac(key, digestmod="sha256")
except ImportError:  # a Python without OpenSSL
    def new_mac(key: bytes) -> Any:
        return hmac.new(key, digestmod=hashlib.sha256)


def seal(key: bytes, chain_hash: bytes, prev_position: int, ordinal: int) -> bytes:
    return hmac.digest(key, chain_hash + CLAIMS.pack(prev_position, ordinal), "sha256")


# The recorder inserts with this prefix and these extra RETURNING columns: the head as it
# was before the insert (the predecessor of the first new event, and its ordinal).
HEAD_BEFORE = ("WITH head AS (SELECT h.position, coalesce((SELECT s.ordinal FROM "
               "csm_event_seals s WHERE s.position = h.position), 0) AS ordinal "
               "FROM csm_chain_head h WHERE h.id = 1) ")
RETURNING_FOR_SEALS = ", hash, (SELECT position FROM head) AS head_position, " \
                      "(SELECT ordinal FROM head) AS head_ordinal"


def record_seals(curs: Any, key: bytes, inserted: Sequence[dict[str, Any]]) -> list[int]:
    """Seals events just inserted, inside their transaction (the key stays in this process);
    returns their positions in order."""
    rows = sorted(inserted, key=lambda r: r["notification_id"])
    if not rows:
        return []
    positions, prev, ordinal = [], rows[0]["head_position"], rows[0]["head_ordinal"]
    prevs, ordinals, seals = [], [], []
    for r in rows:
        ordinal += 1
        positions.append(r["notification_id"])
        prevs.append(prev)
        ordinals.append(ordinal)
        seals.append(seal(key, bytes(r["hash"]), prev, ordinal))
        prev = r["notification_id"]
    curs.execute("INSERT INTO csm_event_seals (position, prev_position, ordinal, seal) "
                 "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bytea[])",
                 (positions, prevs, ordinals, seals))
    return positions


# Each event's hashed bytes after the previous hash (the trigger's formula), its stored hash
# and its seal; csm recomputes the chain and checks the seals itself. Across a gap, the
# first seal left in it (of a removed event) comes with the event after the gap.
SCAN = f"""
SELECT c.notification_id, c.tail, c.hash, s.seal,
       int8send(s.prev_position) || int8send(s.ordinal),
       CASE WHEN c.notification_id > c.before + 1 THEN (
           SELECT min(o.position) FROM csm_event_seals o
           WHERE o.position > c.before AND o.position < c.notification_id) END
FROM (SELECT notification_id, coalesce(hash, ''::bytea) AS hash,
             lag(notification_id, 1, %(last)s::bigint) OVER (ORDER BY notification_id) AS before,
             coalesce(int8send(notification_id) || int8send(originator_version)
                 || int4send(octet_length(originator_id::text))
                 || convert_to(originator_id::text, 'UTF8')
                 || int4send(octet_length(topic)) || convert_to(topic, 'UTF8')
                 || int8send((extract(epoch FROM recorded_at) * 1000000)::bigint)
                 || state, ''::bytea) AS tail
      FROM {EVENTS} WHERE notification_id > %(after)s) c
LEFT JOIN csm_event_seals s ON s.position = c.notification_id
ORDER BY c.notification_id"""
# Rows arrive in chunks while PostgreSQL goes on producing them (libpq 17+; else one by one).
CHUNK = 2000 if pq.version() >= 170000 else 1

EDITED = ("the stored hash does not match this event and the one before it: the event was "
          "edited or moved, or written without the trigger")
REMOVED = "the event was removed: the event after it is chained to it"
ORPHAN = "the event was removed (its seal is still there)"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_position: int | None
    reason: str | None = None  # what is wrong at first_bad_position
    sealed_from: int | None = None  # events before it are covered by the upgrade checkpoint
    gaps: int = 0  # positions the database skipped (rolled-back transactions): no fault
    checkpoints_checked: int = 0
    last_position: int = 0  # the last event checked, and its hash
    last_hash: bytes = b""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "events_checked": self.events_checked,
                "first_bad_position": self.first_bad_position, "reason": self.reason,
                "sealed_from": self.sealed_from, "gaps": self.gaps,
                "checkpoints_checked": self.checkpoints_checked}


@dataclass
class _Scan:
    """One pass over the events after a position: chain links, gaps, seals, checkpoints."""
    key: bytes | None  # None: the chain and the checkpoints alone (what an outsider checks)
    sealed_from: int
    expected: dict[int, Checkpoint]
    checked: int = 0
    gaps: int = 0

    def run(self, conn: Any, after: int, prev: bytes, progress: Progress,
            ordinal: int = 0) -> ChainReport:
        expected, sha, pack = self.expected, hashlib.sha256, CLAIMS.pack
        sealed_from = self.sealed_from if self.key is not None else 2**63
        mac = new_mac(self.key or b"-")
        last, last_hash = after, prev
        rows = conn.cursor(row_factory=tuple_row).stream(
            SCAN, {"after": after, "last": after}, binary=True, size=CHUNK)
        for position, tail, stored, sealed, claims, orphan in rows:
            if orphan is not None:
                return self._bad(orphan, ORPHAN)
            gap = position != last + 1
            linked = sha(last_hash + tail).digest() == stored
            if position >= sealed_from:
                m = mac.copy()
                m.update(stored + (claims or b""))
                if sealed is None or m.digest() != sealed:
                    if gap and not linked:  # the chain already shows a removal before it
                        return self._bad(last + 1, REMOVED)
                    return self._bad(position, "the event has no seal: it was written without "
                                     "csm (e.g. a plain INSERT)" if sealed is None else
                                     "the seal does not match: the event or its hash was "
                                     "written without the chain key (e.g. a re-chained rewrite)")
                if claims != pack(last, ordinal + 1):
                    return self._removed(last, ordinal, position, *CLAIMS.unpack(claims))
                ordinal += 1
            elif gap and not linked:
                return self._bad(last + 1, REMOVED)
            if not linked:
                return self._bad(position, EDITED if stored else "the event has no hash")
            if gap:
                missed = [p for p in expected if last < p < position]
                if missed:
                    return self._bad(min(missed), "the event a checkpoint names is missing")
                self.gaps += position - last - 1
            if position in expected and expected[position].hash != stored:
                return self._bad(position, f"the chain hash differs from the checkpoint signed "
                                 f"at {expected[position].at}: an event at or before this "
                                 f"position was changed")
            last, last_hash = position, stored
            self.checked += 1
            if progress and self.checked % PROGRESS_EVERY == 0:
                progress(self.checked)
        return ChainReport(True, self.checked, None, None, self.sealed_from, self.gaps,
                           len(expected), last, last_hash)

    def _removed(self, last: int, ordinal: int, position: int, claimed_prev: int,
                 claimed: int) -> ChainReport:
        """The seal of the event at `position` counts or names events the log lacks."""
        removed, missing = claimed - ordinal - 1, position - last - 1
        if removed < 1 or not last < claimed_prev < position:
            return self._bad(position, "the seal names another event before this one than the "
                             "log holds: the event was moved")
        if removed == 1:
            return self._bad(claimed_prev, f"the event was removed: the seal of the event at "
                             f"{position} names it as the one before")
        return self._bad(last + 1, f"{removed} events were removed among positions "
                         f"{last + 1}..{position - 1}" + ("" if removed == missing else
                                                          f" ({claimed_prev} among them)"))

    def _bad(self, position: int, reason: str) -> ChainReport:
        self.checked += 1
        return ChainReport(False, self.checked, position, reason, self.sealed_from, self.gaps,
                           len(self.expected))


def _end(conn: Any, scan: _Scan, report: ChainReport) -> ChainReport:
    """After a clean pass: the head must name the last event, and no checkpoint lie beyond."""
    if not report.ok:
        return report
    last = report.last_position
    beyond = [p for p in scan.expected if p > last]
    if beyond:
        return scan._bad(min(beyond), f"the log ends at position {last}, before a checkpoint")
    head = conn.execute("SELECT position, hash FROM csm_chain_head WHERE id = 1").fetchone()
    orphan = conn.execute("SELECT min(position) AS p FROM csm_event_seals WHERE position > %s",
                          (last,)).fetchone()["p"]
    if orphan is not None:
        return scan._bad(orphan, ORPHAN)
    if head and head["position"] > last:
        # Rows at the end were removed: the chain head still names the last one written.
        return scan._bad(last + 1, f"events after position {last} were removed: the chain "
                         f"head names position {head['position']}")
    if head and report.events_checked and head["position"] == last and bytes(
            head["hash"]) != report.last_hash:
        return scan._bad(last, "the chain head's hash differs from the last event's")
    return report


@contextmanager
def consistent_view(pool: ConnectionPool, read_only: bool = True) -> Iterator[Any]:
    """One transaction seeing one snapshot of events, seals, checkpoints and head, with
    PostgreSQL's own functions resolved before anything another schema could define under
    their names."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
                     + (", READ ONLY" if read_only else ""))
        conn.execute("SET LOCAL search_path = pg_catalog, public")
        yield conn


def verify_chain(pool: ConnectionPool, audit: AuditKeys, progress: Progress = None
                 ) -> ChainReport:
    """Every event: its hash, its link to the one before, its seal (from the upgrade
    checkpoint on, if the store was written before seals), and every stored checkpoint.

    `progress` is called with the number of events checked so far, last with the total.
    """
    with consistent_view(pool) as conn:
        cps = checkpoints.stored(conn)
        forged = next((cp for cp in cps if not cp.signed_by(audit.signer.public)), None)
        if forged is not None:
            return ChainReport(False, 0, forged.position, "a stored checkpoint is not signed "
                               "by csm's key")
        upgrade = max((cp.position for cp in cps if cp.kind == "upgrade"), default=0)
        scan = _Scan(audit.chain_key, upgrade + 1, {cp.position: cp for cp in cps})
        report = _end(conn, scan, scan.run(conn, 0, b"", progress))
    if progress:
        progress(report.events_checked)
    return report


def verify_against(pool: ConnectionPool, saved: Sequence[Checkpoint], public: Ed25519PublicKey,
                   progress: Progress = None) -> ChainReport:
    """With the public key alone: each saved checkpoint is csm's, and today's log (whose
    chain is recomputed from the first event) still passes through it."""
    forged = next((cp for cp in saved if not cp.signed_by(public)), None)
    if forged is not None:
        return ChainReport(False, 0, forged.position, "the checkpoint is not signed by this "
                           "public key")
    with consistent_view(pool) as conn:
        scan = _Scan(None, 1, {cp.position: cp for cp in saved})
        report = _end(conn, scan, scan.run(conn, 0, b"", progress))
    if progress:
        progress(report.events_checked)
    return report


def verify_since(conn: Any, chain_key: bytes | None, since: Checkpoint | None) -> ChainReport:
    """The events after a checkpoint (all, without one) in a `consistent_view`: for the next
    checkpoint. Without a key, the chain alone (the events of a store never sealed)."""
    after, prev = (since.position, since.hash) if since else (0, b"")
    row = conn.execute("SELECT ordinal FROM csm_event_seals WHERE position = %s",
                       (after,)).fetchone()
    scan = _Scan(chain_key, after + 1, {})
    return _end(conn, scan, scan.run(conn, after, prev, None, row["ordinal"] if row else 0))
