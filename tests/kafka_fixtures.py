"""The Kafka tests' broker and stack: ONE real broker per test run, settings for a test's own
topics, and the in-process stack with every Kafka part. Waiting for the parts is in
tests/kafka_progress.py, the events-topic check in tests/events_topic.py, the HTTP load and
the inbound check in tests/http_load.py; topics, `csm` processes, the world made over HTTP
and the inbound messages live in bench/ (topics.py, processes.py, world.py,
inbound_messages.py), which the benchmarks use too.

Use it from a test module with

    from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)

Each test takes a database of its own (`new_database(pg_server)`) and topics of
its own (`Topics.fresh()`), so tests never see each other's events, offsets or
dead letters on the shared broker. The consumer group names are fixed by the
code (`csm-projector-<name>`, `csm-inbound`); tests run one after another, so
a group only ever has members of one test.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from bench.stack import LiveServer, new_database, settings_for
from bench.topics import MAX_MESSAGE_BYTES, PARTITIONS, Topics
from csm.consumers.composition import start_runtime
from csm.infra.kafka_broker import KafkaBroker
from csm.infra.settings import Settings


_BROKER: list[KafkaBroker] = []


@pytest.fixture(scope="session")
def kafka_broker() -> Any:
    """One real single-node Kafka broker (KRaft) for the whole test run.

    Each test module imports this fixture, and pytest keeps a session fixture per module
    that defines it: without the module-level cache every module would start (and keep
    until the end) a broker of its own."""
    if not _BROKER:
        _BROKER.append(KafkaBroker(num_partitions=PARTITIONS,
                                   extra_props={"message.max.bytes": str(MAX_MESSAGE_BYTES)}))
        _BROKER[0].start()
    yield _BROKER[0]
    _BROKER[0].stop()   # at the end of the session; stopping twice is harmless


# A target not known yet is retried for seconds here, not minutes: the tests that expect an
# unknown target in the DLQ do not wait 10 minutes for it.
RETRY = dict(csm_inbound_retry_seconds=2.0, csm_inbound_retry_backoff_seconds=0.2,
             csm_inbound_retry_backoff_max_seconds=1.0)


def kafka_settings(url: str, data_dir: Path, broker: KafkaBroker, topics: Topics,
                   **extra: Any) -> Settings:
    return settings_for(url, data_dir, **{
        "kafka_bootstrap_servers": broker.bootstrap_servers, "csm_kafka_partitions": PARTITIONS,
        "csm_topic_events": topics.events, "csm_topic_inbound": topics.inbound,
        "csm_topic_dlq": topics.dlq, "csm_topic_inbound_retry": topics.retry, **RETRY, **extra})


@contextlib.contextmanager
def running_stack(pg_server: Any, broker: KafkaBroker, tmp_path: Path, label: str,
                  **extra: Any):
    """A database, fresh topics, every Kafka part and the API, for one test."""
    topics = Topics.fresh(label)
    topics.create(broker.bootstrap_servers)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, broker, topics, **extra))
    parts = rt.start_kafka_parts({"relay", "project", "inbound"})
    live = LiveServer(rt)
    try:
        yield rt, live, topics, parts
    finally:
        live.stop()
        rt.close()
