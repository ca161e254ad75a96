"""Starting the Kafka parts in background threads: relay, one projector per projection, inbound."""
from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from csm.consumers.inbound import Inbound
from csm.consumers.inbound_retry import retry_policy
from csm.consumers.projector import KafkaProjector
from csm.consumers.relay import Relay
from csm.infra.notifications import listen_for_events
from csm.projections.rebuild import ensure_read_models
from csm.projections.registry import select

log = structlog.get_logger()


class KafkaParts:
    def __init__(self, runtime, parts: set[str], projections: list[str] | None = None):
        s = runtime.settings
        self.runtime, self.parts = runtime, parts
        self.stop_event, self.wake = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []
        bootstrap, n = s.kafka_bootstrap_servers, s.csm_kafka_partitions
        self.relay = Relay(runtime.pool, bootstrap, s.csm_topic_events, n,
                           client=s.csm_kafka_client) \
            if "relay" in parts else None
        self.projectors = [KafkaProjector(runtime.pool, bootstrap, s.csm_topic_events, n, p, s.zone)
                           for p in select(projections)] if "project" in parts else []
        self.inbound = Inbound(runtime.pool, runtime.app, bootstrap, s.csm_topic_inbound,
                               s.csm_topic_dlq, n, s.csm_topic_inbound_retry, retry_policy(s)) \
            if "inbound" in parts else None
        for name, workers in (("relay", [self.relay] if self.relay else []),
                              ("project", self.projectors),
                              ("inbound", [self.inbound] if self.inbound else [])):
            for worker in workers:
                worker.status = runtime.part(name)

    def start(self) -> None:
        if self.projectors:
            ensure_read_models(self.runtime.pool, [k.p for k in self.projectors],
                               self.runtime.settings.zone)
        if self.relay:
            self._thread("csm-relay", self.relay.run, self.stop_event, self.wake)
            self._thread("csm-relay-listen", listen_for_events, self.runtime.url,
                         self.stop_event, self.wake)
        for k in self.projectors:
            self._thread(f"csm-project-{k.p.name}", k.run, self.stop_event)
        if self.inbound:
            self._thread("csm-inbound", self.inbound.run, self.stop_event)
        log.info("kafka_parts_started", parts=sorted(self.parts),
                 projections=[k.p.name for k in self.projectors])

    def _thread(self, name: str, target: Callable, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def running(self) -> bool:
        return bool(self.threads) and all(t.is_alive() for t in self.threads)

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        for t in self.threads:
            t.join(timeout=15)
