"""The relay's Kafka producers: two clients behind one small interface (`partitions`,
`send`, `wait`, `close`), chosen by `CSM_KAFKA_CLIENT`. kafka-python is the default;
confluent-kafka (librdkafka; the optional extra `fast`) costs far less per record. Both
are set up alike: acks=all, idempotent (so retries neither duplicate nor reorder a
partition's records), and a record is retried for up to 10 minutes before it counts as
undelivered."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from csm.consumers.kafka_io import CLIENT, Undelivered, close, deliver, producer, reachable
from csm.consumers.outage import Outage


class KafkaPythonProducer:
    """kafka-python's KafkaProducer (`kafka_io.producer`) behind the relay's interface."""
    client = "kafka-python"

    def __init__(self, prod: KafkaProducer):
        self.prod = prod
        self.futures: list = []

    @classmethod
    def make(cls, bootstrap: str) -> KafkaPythonProducer:
        return cls(producer(bootstrap))

    def partitions(self, topic: str) -> int:
        return len(self.prod.partitions_for(topic))

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes,
             headers: list) -> None:
        self.futures.append(self.prod.send(topic, value=value, key=key, headers=headers,
                                           partition=partition))

    def wait(self, broker: Outage, stop: threading.Event | None) -> None:
        """Until the broker acknowledged every record sent, however long it is away;
        raises Undelivered for one it refused (or gave up on)."""
        deliver(self.prod, broker, stop)
        futures, self.futures = self.futures, []
        for f in futures:
            if f.failed():
                raise Undelivered(f.exception)

    def close(self) -> None:
        close(self.prod)


class ConfluentProducer:
    """confluent-kafka's Producer (librdkafka) behind the relay's interface, set up as
    `kafka_io.producer` sets up kafka-python's. Only failed records are reported back to
    Python (`delivery.report.only.error`), so a delivered one costs no Python call; its
    errors are raised as kafka-python's, so the relay treats both clients alike."""
    client = "confluent"
    QUEUE_FULL_FOR = 10.0   # as kafka-python's max_block_ms
    DOWN = ("_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE", "_TIMED_OUT")

    def __init__(self, bootstrap: str, **overrides: Any):
        try:
            from confluent_kafka import KafkaException, Producer
        except ImportError:
            raise RuntimeError("CSM_KAFKA_CLIENT=confluent needs the confluent-kafka package: "
                               "pip install 'csm[fast]'") from None
        reachable(bootstrap)
        self.bootstrap, self.KafkaException = bootstrap, KafkaException
        self.failures: list[Any] = []
        self.down: str | None = None    # what the client last said of losing the brokers
        config = {
            "bootstrap.servers": bootstrap, "client.id": "csm-relay",
            "acks": "all", "enable.idempotence": True, "linger.ms": 5,
            "batch.size": 1_000_000, "message.max.bytes": 4 * 1024 * 1024,
            "request.timeout.ms": 15_000, "message.timeout.ms": 600_000,
            "reconnect.backoff.ms": CLIENT["reconnect_backoff_ms"],
            "reconnect.backoff.max.ms": CLIENT["reconnect_backoff_max_ms"],
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True, "on_delivery": self._failed,
            "error_cb": self._error, "logger": logging.getLogger("kafka.confluent"),
            **overrides}
        self.prod = Producer(config)
        self._produce = self.prod.produce

    def _failed(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failures.append(err)

    def _error(self, err: Any) -> None:
        if err.fatal():
            self.failures.append(err)
        elif err.name() in self.DOWN:
            self.down = f"{err.name()}: {err.str()}"

    def _raise(self, exc: Exception) -> None:
        """A confluent-kafka error as the kafka-python error the relay handles."""
        err = exc.args[0] if exc.args else None
        text = f"{type(exc).__name__}: {err.str() if hasattr(err, 'str') else exc}"
        if hasattr(err, "name") and err.name() == "MSG_SIZE_TOO_LARGE":
            raise MessageSizeTooLargeError(text) from exc
        if hasattr(err, "retriable") and err.retriable() and not err.fatal():
            raise KafkaTimeoutError(text) from exc
        raise KafkaError(text) from exc

    def partitions(self, topic: str) -> int:
        try:
            meta = self.prod.list_topics(topic, timeout=CLIENT["bootstrap_timeout_ms"] / 1000)
        except self.KafkaException as exc:
            self._raise(exc)
        found = meta.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise KafkaTimeoutError(f"no partitions of {topic} known yet: "
                                    f"{found.error if found is not None else 'no such topic'}")
        return len(found.partitions)

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes,
             headers: list) -> None:
        try:
            self._produce(topic, value, key, partition, headers=headers)
        except BufferError:   # the client's queue is full: let it drain, as kafka-python blocks
            self._queue_full(topic, partition, key, value, headers)
        except self.KafkaException as exc:
            self._raise(exc)

    def _queue_full(self, topic: str, partition: int, key: bytes | None, value: bytes,
                    headers: list) -> None:
        deadline = time.monotonic() + self.QUEUE_FULL_FOR
        while True:
            self.prod.poll(0.1)
            try:
                self._produce(topic, value, key, partition, headers=headers)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaTimeoutError(f"{len(self.prod):,} records queued, none taken "
                                            f"for {self.QUEUE_FULL_FOR:g} s") from None
            except self.KafkaException as exc:
                self._raise(exc)

    def wait(self, broker: Outage, stop: threading.Event | None, every: float = 2.0) -> None:
        """Until the broker acknowledged every record sent, however long it is away
        (saying so once); gives up only on `stop`. Raises Undelivered for a record the
        broker refused, or that the client gave up on, or when the client failed."""
        while left := self.prod.flush(every):
            if self.down:
                broker.begin(f"{self.down}; {left:,} records not acknowledged yet")
            if stop is not None and stop.is_set():
                raise KafkaTimeoutError(f"{left:,} records not acknowledged when stopped")
        self.down = None
        broker.end()
        if self.failures:
            failures, self.failures = self.failures, []
            raise Undelivered(f"{len(failures):,} records not delivered, first: "
                              f"{failures[0].name()}: {failures[0].str()}")

    def close(self) -> None:
        """As kafka-python's close(timeout=3): what is not delivered within 3 s is dropped
        (the relay has not recorded it as published)."""
        if self.prod.flush(3):
            self.prod.purge()
            self.prod.flush(1)
        self.prod.close()


CLIENTS = {"kafka-python": KafkaPythonProducer.make, "confluent": ConfluentProducer}


def relay_producer(bootstrap: str, client: str) -> KafkaPythonProducer | ConfluentProducer:
    """The producer of `client` (`CSM_KAFKA_CLIENT`) on `bootstrap`."""
    if client not in CLIENTS:
        raise ValueError(f"unknown Kafka client {client!r}: one of {', '.join(CLIENTS)}")
    return CLIENTS[client](bootstrap)
