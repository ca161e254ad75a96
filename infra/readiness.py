"""Readiness from PostgreSQL: the whole picture any process can give, and its verdict.

Whichever process is asked (`csm api` runs no projector), the answer is read from
the database: each projection's position, lag behind the store's head (events,
and seconds since the oldest event it has not applied was recorded) and the
event it cannot apply; the relay's position and lag (with Kafka); every part's
heartbeat; the inbound consumer's lag per partition; dead letters in the last
hour; the deadline watcher's last scan. It is not ready — with every reason,
naming the part, its position and error — when a projection or part failed,
when a projection or the relay is more than CSM_READY_MAX_LAG_SECONDS behind,
when no instance of a part that was running has been seen for that long, or the
watcher has not scanned for that long past its interval.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from csm.projections.pg_names import READ_SCHEMA
from csm.infra.settings import Settings

BEHIND = ("extract(epoch FROM now() - (SELECT e.recorded_at FROM csm_events e WHERE "
          "e.notification_id > {0} ORDER BY e.notification_id LIMIT 1))")
PROJECTIONS = (
    "SELECT s.name, s.position, s.updated_at, s.failed_position, s.failed_event_id, "
    "s.failed_error, s.failed_since, s.failures, " + BEHIND.format("s.position") +
    f" AS lag_seconds FROM {READ_SCHEMA}.projection_status s ORDER BY s.name")
RELAY = ("SELECT p.position, p.updated_at, " + BEHIND.format("p.position") + " AS lag_seconds "
         "FROM (SELECT coalesce(max(position), 0) AS position, max(updated_at) AS updated_at "
         "FROM csm_relay_progress WHERE topic = %s) p")
PARTS = ("SELECT part, instance, pid, host, started_at, last_seen, "
         "extract(epoch FROM now() - last_seen) AS age_seconds, state, error, error_since, "
         "details FROM csm_part_status ORDER BY part, instance")
DEAD_LETTERS = ("SELECT coalesce(sum(count) FILTER (WHERE minute > now() - interval '1 hour'),"
                " 0) AS last_hour, coalesce(sum(count), 0) AS total FROM csm_dead_letter_counts "
                "WHERE topic = %s")


def picture(pool: Any, settings: Settings,
            local: Callable[[], list[str]] | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 ready, 503 with `problems` naming each part that is not."""
    try:
        with pool.connection(timeout=2) as conn:
            found = read(conn, settings)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store means not ready
        return 503, {"status": "unavailable", "store": type(exc).__name__,
                     "problems": [f"store unavailable: {type(exc).__name__}"]}
    body = shape(found, settings)
    if local is not None:
        body["problems"] += local()
    body["status"] = "not_ready" if body["problems"] else "ready"
    return (503 if body["problems"] else 200), body


def read(conn: Any, settings: Settings) -> dict[str, Any]:
    head = conn.execute("SELECT position, now() AS now FROM csm_chain_head WHERE id = 1"
                        ).fetchone()
    kafka = bool(settings.kafka_bootstrap_servers)
    return {
        "now": head["now"] if head else None, "head": head["position"] if head else 0,
        "projections": conn.execute(PROJECTIONS).fetchall(),
        "relay": conn.execute(RELAY, (settings.csm_topic_events,)).fetchone() if kafka else None,
        "parts": conn.execute(PARTS).fetchall(),
        "dead_letters": conn.execute(DEAD_LETTERS, (settings.csm_topic_dlq,)).fetchone(),
    }


def shape(found: dict[str, Any], settings: Settings) -> dict[str, Any]:
    limit, head = settings.csm_ready_max_lag_seconds, found["head"]
    stale_after = max(limit, 2 * settings.csm_heartbeat_seconds)
    problems: list[str] = []
    projections = [_projection(r, head, limit, problems) for r in found["projections"]]
    relay = _relay(found["relay"], head, limit, problems) if found["relay"] else None
    parts = [_part(r) for r in found["parts"]]
    by_part: dict[str, list[dict[str, Any]]] = {}
    for p in parts:
        by_part.setdefault(p["part"], []).append(p)
    for name, instances in sorted(by_part.items()):
        _judge_part(name, instances, stale_after, problems)
    deadlines = _deadlines(by_part.get("deadlines", []), found["now"], limit, stale_after,
                           problems)
    letters = found["dead_letters"]
    return {"status": "", "store": "ok", "position": head, "max_lag_seconds": limit,
            "problems": problems, "projections": projections, "relay": relay,
            "inbound": {"partitions": _inbound_partitions(by_part.get("inbound", [])),
                        "dead_letters_last_hour": int(letters["last_hour"]),
                        "dead_letters_total": int(letters["total"])},
            "deadlines": deadlines, "parts": parts}


def _seconds(value: Any) -> float:
    return round(float(value), 3) if value is not None else 0.0


def _projection(r: dict[str, Any], head: int, limit: float, problems: list[str]
                ) -> dict[str, Any]:
    lag, lag_seconds = max(0, head - r["position"]), _seconds(r["lag_seconds"])
    failed = None
    if r["failed_position"] is not None:
        failed = {"position": r["failed_position"], "event_id": r["failed_event_id"],
                  "error": r["failed_error"], "since": r["failed_since"]}
        problems.append(f"projection {r['name']} cannot apply event {r['failed_event_id']} at "
                        f"position {r['failed_position']} (stopped at {r['position']}, since "
                        f"{r['failed_since'].isoformat()}): {r['failed_error']}")
    elif lag_seconds > limit:
        problems.append(f"projection {r['name']} is {lag} events behind the store, at position "
                        f"{r['position']} of {head} ({lag_seconds:.0f} s)")
    return {"name": r["name"], "position": r["position"], "lag": lag, "lag_seconds": lag_seconds,
            "updated_at": r["updated_at"], "failures": r["failures"], "failed": failed}


def _relay(r: dict[str, Any], head: int, limit: float, problems: list[str]) -> dict[str, Any]:
    lag, lag_seconds = max(0, head - r["position"]), _seconds(r["lag_seconds"])
    if lag_seconds > limit:
        problems.append(f"relay is {lag} events behind the store, at position {r['position']} "
                        f"of {head} ({lag_seconds:.0f} s)")
    return {"position": r["position"], "lag": lag, "lag_seconds": lag_seconds,
            "updated_at": r["updated_at"]}


def _part(r: dict[str, Any]) -> dict[str, Any]:
    return {"part": r["part"], "instance": r["instance"], "pid": r["pid"], "host": r["host"],
            "started_at": r["started_at"], "last_seen": r["last_seen"],
            "age_seconds": _seconds(r["age_seconds"]), "state": r["state"], "error": r["error"],
            "error_since": r["error_since"], "details": r["details"] or {}}


def _judge_part(name: str, instances: list[dict[str, Any]], stale_after: float,
                problems: list[str]) -> None:
    """A part is stalled when none of its instances was seen lately (another instance takes
    over the work of one that died); a fresh instance that failed says why."""
    fresh = [i for i in instances if i["age_seconds"] <= stale_after]
    if not fresh:
        last = min(instances, key=lambda i: i["age_seconds"])
        problems.append(f"{name} not seen for {last['age_seconds']:.0f} s (instance "
                        f"{last['instance']}, pid {last['pid']}){_where(last)}")
    for i in fresh:
        if i["state"] == "failed":
            problems.append(f"{name} failed since {i['error_since'].isoformat()} (instance "
                            f"{i['instance']}){_where(i)}: {i['error']}")


def _where(instance: dict[str, Any]) -> str:
    position = instance["details"].get("position")
    return f", at position {position}" if position is not None else ""


def _deadlines(instances: list[dict[str, Any]], now: datetime | None, limit: float,
               stale_after: float, problems: list[str]) -> dict[str, Any] | None:
    fresh = [i for i in instances if i["age_seconds"] <= stale_after]
    if not instances:
        return None
    scans = [(i["details"].get("last_scan_at"), i) for i in (fresh or instances)]
    last = max((datetime.fromisoformat(s) for s, _ in scans if s), default=None)
    started = min(i["started_at"] for i in (fresh or instances))
    interval = max((i["details"].get("scan_seconds", 0) for i in instances), default=0)
    age = _seconds(((now - (last or started)).total_seconds()) if now else 0)
    if fresh and age > interval + limit:
        problems.append(f"deadlines last scanned {age:.0f} s ago (every {interval:g} s)"
                        if last else f"deadlines has not scanned in {age:.0f} s")
    return {"last_scan_at": last, "age_seconds": age, "scan_seconds": interval}


def _inbound_partitions(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """Partition → committed offset, end offset and lag, from the instance that saw it last."""
    merged: dict[str, Any] = {}
    for i in sorted(instances, key=lambda i: -i["age_seconds"]):
        merged.update(i["details"].get("partitions") or {})
    return dict(sorted(merged.items(), key=lambda kv: int(kv[0])))
