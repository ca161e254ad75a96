"""`csm dlq replay`: dead letters back to the inbound topic, once their cause is fixed.

Each chosen DLQ record goes to the inbound topic with its key, its original
bytes and the adapter's headers (csm's `error`, `original_*` and `retry_*`
dropped, `replayed_from: <dlq>/<partition>/<offset>` added), so it is tried
afresh — a message whose target is still unknown gets its full retry time again.
Replaying is safe to repeat: a message applied before has no second effect
(its `message_id`), and one still refused is not dead-lettered a second time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from csm.consumers.inbound_retry import adapter_headers
from csm.consumers.kafka_io import CLIENT, MAX_MESSAGE_BYTES, close, header, producer, reachable


@dataclass
class Replayed:
    read: int = 0
    sent: int = 0
    without_bytes: int = 0   # a tombstone, or too large for the DLQ (see its original offset)

    def as_dict(self) -> dict[str, int]:
        return {"read": self.read, "sent": self.sent, "without_bytes": self.without_bytes}


def chosen(rec: Any, match: str | None) -> bool:
    """All, or those of message type `match`, or whose error or bytes contain `match`."""
    if match is None:
        return True
    try:
        body = orjson.loads(rec.value)
        if isinstance(body, dict) and body.get("type") == match:
            return True
    except orjson.JSONDecodeError:
        pass
    needle = match.lower()
    return (needle in (header(rec.headers, "error") or "").lower()
            or needle in rec.value.decode("utf-8", "replace").lower())


def replay(bootstrap: str, dlq: str, inbound: str, since: datetime | None = None,
           match: str | None = None, timeout: float = 120) -> Replayed:
    reachable(bootstrap)
    done = Replayed()
    cons = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         max_partition_fetch_bytes=MAX_MESSAGE_BYTES, **CLIENT)
    prod = None
    try:
        tps = [TopicPartition(dlq, p) for p in sorted(cons.partitions_for_topic(dlq) or ())]
        if not tps:
            return done
        cons.assign(tps)
        end = cons.end_offsets(tps)
        _seek(cons, tps, since, end)
        prod = producer(bootstrap, max_request_size=MAX_MESSAGE_BYTES)
        futures = []
        deadline = time.monotonic() + timeout
        while any(cons.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {dlq} to its end in {timeout} s")
            for tp, records in cons.poll(timeout_ms=500).items():
                for rec in records:
                    if rec.offset >= end[tp]:
                        continue    # written after the replay began: not ours to send
                    done.read += 1
                    if rec.value is None:
                        done.without_bytes += 1
                    elif chosen(rec, match):
                        headers = [*adapter_headers(rec, copy=True),
                                   ("replayed_from", f"{dlq}/{rec.partition}/{rec.offset}".encode())]
                        futures.append(prod.send(inbound, key=rec.key, value=rec.value,
                                                 headers=headers))
        prod.flush(timeout=60)
        for f in futures:
            f.get(timeout=0)
        done.sent = len(futures)
        return done
    finally:
        close(prod)
        cons.close()


def _seek(cons: KafkaConsumer, tps: list[TopicPartition], since: datetime | None,
          end: dict[TopicPartition, int]) -> None:
    if since is None:
        cons.seek_to_beginning(*tps)
        return
    found = cons.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    for tp in tps:
        at = found.get(tp)
        cons.seek(tp, at.offset if at is not None else end[tp])
