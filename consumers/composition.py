"""The composition root: every csm process (the `csm` commands, bench, tests) opens its
runtime here and starts its parts from here, so the API, the projectors, the Kafka parts and
the deadline watcher and the checkpointer are wired in one place.

It sits in the top layer of the import contract (pyproject.toml, `[tool.importlinter]`): it
must see consumers/, api/, projections/ and infra/, and infra/ sees none of the first two."""
from __future__ import annotations

import threading
from collections.abc import Callable

from csm.consumers.audit_topic import AuditTopic
from csm.consumers.deadlines import DeadlineWatcher
from csm.consumers.service import KafkaParts
from csm.infra.checkpointer import Checkpointer
from csm.infra.runtime import Runtime
from csm.infra.settings import Settings
from csm.projections.complaints.projection import Complaints
from csm.projections.rebuild import ensure_read_models
from csm.projections.registry import select
from csm.consumers.store_projector import ProjectorService


class Process(Runtime):
    """A runtime and the parts this process runs on it, each stopped when it closes."""

    def start_projectors(self, names: list[str] | None = None) -> ProjectorService:
        """Runs the chosen projections (all by default) in background threads of this process."""
        service = ProjectorService(self.pool, self.url, select(names), self.settings.zone,
                                   status=self.part("project"))
        service.start()
        self.stoppers.append(service.stop)
        self.projectors = service
        return service

    def start_kafka_parts(self, parts: set[str],
                          projections: list[str] | None = None) -> KafkaParts:
        """Relay, Kafka-fed projectors and/or the inbound consumer, in background threads."""
        service = KafkaParts(self, parts, projections)
        service.start()
        self.stoppers.append(service.stop)
        if "project" in parts:
            self.projectors = service
        return service

    def start_read_side(self, projections: list[str] | None = None):
        """Projectors fed from Kafka when it is configured, else from the event store."""
        if self.settings.kafka_bootstrap_servers:
            return self.start_kafka_parts({"project"}, projections)
        return self.start_projectors(projections)

    def start_deadlines(self) -> DeadlineWatcher:
        """The deadline watcher in a background thread."""
        s = self.settings
        ensure_read_models(self.pool, [Complaints()], s.zone)  # where it finds candidates
        watcher = DeadlineWatcher(self.pool, self.app, s.csm_sla_grace_seconds,
                                  s.csm_deadline_scan_seconds, status=self.part("deadlines"))
        self._in_thread("csm-deadlines", watcher.run)
        return watcher

    def start_checkpointer(self) -> Checkpointer:
        """The checkpointer in a background thread; with Kafka it also publishes each
        checkpoint to the audit topic."""
        s = self.settings
        topic = AuditTopic(s.kafka_bootstrap_servers, s.csm_topic_audit) \
            if s.kafka_bootstrap_servers else None
        checkpointer = Checkpointer(self.pool, self.audit, s.csm_checkpoint_events,
                                    s.csm_checkpoint_seconds, topic.publish if topic else None,
                                    status=self.part("checkpoints"))
        checkpointer.thread = self._in_thread("csm-checkpoints", checkpointer.run,
                                              topic.close if topic else None)
        return checkpointer

    def _in_thread(self, name: str, run: Callable[[threading.Event], None],
                   after: Callable[[], None] | None = None) -> threading.Thread:
        """`run(stop)` in a daemon thread, stopped (then `after`) when this process closes."""
        stop = threading.Event()
        thread = threading.Thread(target=run, args=(stop,), name=name, daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=10)
            if after is not None:
                after()
        self.stoppers.append(halt)
        return thread


def start_runtime(settings: Settings, *, keep_embedded_running: bool = False) -> Process:
    return Process.open(settings, keep_embedded_running=keep_embedded_running)


def attach_runtime(settings: Settings, url: str, api_keys: dict[str, str]) -> Process:
    """A runtime on the database the parent of `--workers N` opened (see Runtime.attach)."""
    return Process.attach(settings, url, api_keys)
