"""`/metrics`: the readiness picture as Prometheus gauges and counters, read from PostgreSQL
at scrape time (so every process shows every part), after this process's own metrics."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def render(code: int, body: dict[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PictureCollector(code, body))
    return generate_latest(REGISTRY) + generate_latest(registry)


def _gauge(name: str, doc: str, labels: list[str] | None = None, value: float | None = None
           ) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value, labels=labels)


class PictureCollector:
    def __init__(self, code: int, body: dict[str, Any]):
        self.code, self.body = code, body

    def collect(self):
        b = self.body
        yield _gauge("csm_ready", "1 when /ready answers 200", value=int(self.code == 200))
        yield _gauge("csm_store_up", "1 when PostgreSQL answered", value=int(b["store"] == "ok"))
        if b["store"] != "ok":
            return
        yield _gauge("csm_store_position", "Position of the last recorded event",
                     value=b["position"])
        yield from self._projections(b["projections"])
        if b["relay"] is not None:
            r = b["relay"]
            yield _gauge("csm_relay_position", "Last position the relay published",
                         value=r["position"])
            yield _gauge("csm_relay_lag_events", "Events recorded but not yet published",
                         value=r["lag"])
            yield _gauge("csm_relay_lag_seconds", "Age of the oldest event not yet published",
                         value=r["lag_seconds"])
        yield from self._inbound(b["inbound"])
        if b["deadlines"] is not None:
            d = b["deadlines"]
            yield _gauge("csm_deadlines_last_scan_age_seconds",
                         "Seconds since the deadline watcher last scanned", value=d["age_seconds"])
            if d["last_scan_at"] is not None:
                yield _gauge("csm_deadlines_last_scan_timestamp_seconds",
                             "When the deadline watcher last scanned (Unix time)",
                             value=_unix(d["last_scan_at"]))
        yield from self._parts(b["parts"])

    @staticmethod
    def _projections(rows: list[dict[str, Any]]):
        labels = ["projection"]
        position = _gauge("csm_projection_position", "Last event applied", labels)
        lag = _gauge("csm_projection_lag_events", "Events behind the store's head", labels)
        lag_s = _gauge("csm_projection_lag_seconds",
                       "Age of the oldest event not yet applied", labels)
        failed = _gauge("csm_projection_failed", "1 while it cannot apply an event", labels)
        failed_at = _gauge("csm_projection_failed_position",
                           "Position of the event it cannot apply (0: none)", labels)
        failures = CounterMetricFamily("csm_projection_failures",
                                       "Events it could not apply, each counted once",
                                       labels=labels)
        for r in rows:
            name = [r["name"]]
            position.add_metric(name, r["position"])
            lag.add_metric(name, r["lag"])
            lag_s.add_metric(name, r["lag_seconds"])
            failed.add_metric(name, int(r["failed"] is not None))
            failed_at.add_metric(name, r["failed"]["position"] if r["failed"] else 0)
            failures.add_metric(name, r["failures"])
        yield from (position, lag, lag_s, failed, failed_at, failures)

    @staticmethod
    def _inbound(inbound: dict[str, Any]):
        lag = _gauge("csm_inbound_lag_messages",
                     "Messages on csm.inbound after the committed offset", ["partition"])
        for partition, p in inbound["partitions"].items():
            lag.add_metric([partition], p["lag"])
        yield lag
        yield _gauge("csm_dead_letters_last_hour", "Messages dead-lettered in the last hour",
                     value=inbound["dead_letters_last_hour"])
        total = CounterMetricFamily("csm_dead_letters", "Messages dead-lettered")
        total.add_metric([], inbound["dead_letters_total"])
        yield total

    @staticmethod
    def _parts(parts: list[dict[str, Any]]):
        labels = ["part", "instance"]
        seen = _gauge("csm_part_last_seen_age_seconds", "Seconds since the part's last heartbeat",
                      labels)
        failed = _gauge("csm_part_failed", "1 while the part reports a failure", labels)
        for p in parts:
            key = [p["part"], p["instance"]]
            seen.add_metric(key, p["age_seconds"])
            failed.add_metric(key, int(p["state"] == "failed"))
        yield from (seen, failed)


def _unix(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0
