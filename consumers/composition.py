"""The composition root: every csm process (the `csm` commands, bench, tests) opens its
runtime here and starts its parts from here, so the API, the projectors, the Kafka parts and
the deadline watcher are wired in one place.

It sits in the top layer of the import contract (pyproject.toml, `[tool.importlinter]`): it
must see consumers/, api/, projections/ and infra/, and infra/ sees none of the first two."""
from __future__ import annotations

import threading

from csm.consumers.deadlines import DeadlineWatcher
from csm.consumers.service import KafkaParts
from csm.infra.runtime import Runtime
from csm.infra.settings import Settings
from csm.projections.complaints import Complaints
from csm.projections.rebuild import ensure_read_models
from csm.projections.registry import select
from csm.projections.service import ProjectorService


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
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), name="csm-deadlines",
                                  daemon=True)
        thread.start()
        self.stoppers.append(lambda: (stop.set(), thread.join(timeout=10)))
        return watcher


def start_runtime(settings: Settings, *, keep_embedded_running: bool = False) -> Process:
    return Process.open(settings, keep_embedded_running=keep_embedded_running)
