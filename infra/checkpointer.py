"""The checkpointer: at a steady interval, verify the new events and sign the head.

Every `CSM_CHECKPOINT_EVENTS` events or `CSM_CHECKPOINT_SECONDS` seconds (whichever comes
first, and only when events arrived), it checks the events since the last checkpoint —
chain links and seals — and signs (position, chain hash, time) with `CSM_SIGNING_KEY`; with
Kafka, each checkpoint is published to `CSM_TOPIC_AUDIT` (key `checkpoint`). A broken chain
is never signed: the checkpointer says so once, loudly, and stops.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Gauge
from psycopg_pool import ConnectionPool

from csm.infra import checkpoints
from csm.infra.chain import ChainReport, consistent_view, verify_since
from csm.infra.checkpoints import Checkpoint
from csm.infra.part_status import PartStatus
from csm.infra.secrets import AuditKeys
from csm.projections.pg_names import CHECKPOINT_LOCK

log = structlog.get_logger()
CHECKPOINT_POSITION = Gauge("csm_audit_checkpoint_position",
                            "Position of the last signed checkpoint")
CHAIN_INTACT = Gauge("csm_audit_chain_intact",
                     "1 while the events since the last checkpoint verify, 0 once they do not")
POLL_SECONDS = 1.0


def cover_unsealed_events(pool: ConnectionPool, audit: AuditKeys) -> Checkpoint | None:
    """A store written before events were sealed gets one signed checkpoint over all of it.

    Only a store holding events but no seal and no checkpoint at all is such a store; its
    chain is verified first, and a broken one is left unsigned (verify then names the break).
    """
    with consistent_view(pool, read_only=False) as conn:
        conn.execute("LOCK TABLE csm_events IN SHARE MODE")  # no writer meanwhile
        if conn.execute("SELECT EXISTS (SELECT FROM csm_event_seals) OR EXISTS (SELECT FROM "
                        "csm_checkpoints) OR NOT EXISTS (SELECT FROM csm_events) AS sealed"
                        ).fetchone()["sealed"]:
            return None
        report = verify_since(conn, None, None)
        if not report.ok:
            log.error("unsealed_events_not_covered", first_bad_position=report.first_bad_position,
                      reason=report.reason)
            return None
        cp = audit.signer.sign("upgrade", report.last_position, report.last_hash)
        checkpoints.save(conn, cp)
    log.warning("unsealed_events_covered", position=cp.position, sealed_from=cp.position + 1)
    return cp


class ChainBroken(Exception):
    def __init__(self, report: ChainReport):
        super().__init__(report.reason)
        self.report = report


class Checkpointer:
    def __init__(self, pool: ConnectionPool, audit: AuditKeys, every_events: int,
                 every_seconds: float, publish: Callable[[ConnectionPool], int] | None = None,
                 status: PartStatus | None = None):
        self.pool, self.audit, self.publish, self.status = pool, audit, publish, status
        self.every_events, self.every_seconds = every_events, every_seconds
        self.failure: ChainReport | None = None
        self.thread: threading.Thread | None = None

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def make_once(self, now: datetime | None = None, force: bool = False) -> Checkpoint | None:
        """A new checkpoint if one is due (or `force`) and events arrived since the last."""
        with consistent_view(self.pool, read_only=False) as conn:
            # Several csm processes may run a checkpointer: one signs at a time.
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (CHECKPOINT_LOCK,)
                                ).fetchone()["ok"]:
                return None
            last = checkpoints.latest(conn)
            head = conn.execute("SELECT position FROM csm_chain_head WHERE id = 1").fetchone()
            since = last.position if last else 0
            if head is None or head["position"] <= since:
                return None
            age = ((now or datetime.now(UTC)) - datetime.fromisoformat(last.at)).total_seconds() \
                if last else float("inf")
            if not (force or head["position"] - since >= self.every_events
                    or age >= self.every_seconds):
                return None
            report = verify_since(conn, self.audit.chain_key, last)
            if not report.ok:
                raise ChainBroken(report)
            cp = self.audit.signer.sign("periodic", report.last_position, report.last_hash, now)
            checkpoints.save(conn, cp)
        CHECKPOINT_POSITION.set(cp.position)
        log.info("checkpoint_signed", position=cp.position, key_id=cp.key_id)
        return cp

    def run(self, stop: threading.Event) -> None:
        CHAIN_INTACT.set(1)
        while not stop.is_set():
            try:
                made = self.make_once()
                if made is not None and self.status is not None:
                    self.status.update(position=made.position)
                if self.publish is not None:
                    self.publish(self.pool)
            except ChainBroken as broken:
                self.failure = broken.report
                CHAIN_INTACT.set(0)
                log.error("checkpointer_stopped", first_bad_position=broken.report.
                          first_bad_position, reason=broken.report.reason)
                if self.status is not None:
                    self.status.failed("chain", f"stopped: the chain breaks at position "
                                       f"{broken.report.first_bad_position}: "
                                       f"{broken.report.reason}")
                return
            except Exception as exc:  # the store or the broker is away: said each time, retried
                log.warning("checkpoint_not_made", error=type(exc).__name__)
            stop.wait(POLL_SECONDS)
