"""The read models the live projector keeps equal a fresh rebuild — also after an
in-place rebuild (`csm rebuild`) swapped in while commands kept arriving."""
from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from csm.projections.store import head_position
from tests.read_model_checks import differences
from bench.stack import LiveServer
from bench.world import QUESTIONS
from tests.http_builders import uid


@pytest.fixture
def served(fresh_runtime):
    """A runtime on its own database with its projectors running, served over HTTP."""
    fresh_runtime.start_projectors()
    live = LiveServer(fresh_runtime)
    yield fresh_runtime, live
    live.stop()


class Traffic:
    """Commands a channel adapter, agents and managers would send, chosen at random."""

    def __init__(self, client, rng: random.Random):
        self.c, self.rng, self.sent = client, rng, 0
        self.departments: list[str] = []
        self.customers: list[str] = []
        self.surveys: list[str] = []
        self.resolved: list[tuple[str, str, str]] = []

    def post(self, path: str, body: dict | None = None) -> dict:
        r = self.c.post(path, json=body if body is not None else {})
        assert r.status_code == 201, (path, body, r.status_code, r.text)
        self.sent += 1
        return r.json()

    def ago(self, hours: float) -> str:
        return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()

    def setup(self) -> None:
        for name in ("After-sales", "Delivery", "Billing"):
            self.departments.append(self.post("/v1/departments", {
                "department_id": uid("dep-"), "name": name})["id"])
        for i in range(12):
            self.customers.append(self.post("/v1/customers", {
                "customer_id": uid("cus-"), "name": f"Customer {i}", "email": f"c{i}@example.com",
                "tier": "high_value" if i % 3 == 0 else "standard"})["id"])
        for name in ("Quarterly", "After service"):
            self.surveys.append(self.post("/v1/surveys", {
                "survey_id": uid("srv-"), "name": name, "questions": QUESTIONS})["id"])

    def step(self) -> None:
        kind = self.rng.choices(
            ("complaint", "feedback", "response", "invite", "revisit", "action"),
            weights=(30, 25, 30, 3, 8, 4))[0]
        getattr(self, kind)()

    def complaint(self) -> None:
        rng = self.rng
        opened_hours_ago = rng.uniform(0, 120)
        cid = self.post("/v1/complaints", {
            "complaint_id": uid("cmp-"), "customer_id": rng.choice(self.customers + [None]),
            "channel": rng.choice(("web", "hotline", "app")),
            "department_id": rng.choice(self.departments),
            "severity": rng.choice(("low", "medium", "high", "critical")),
            "description": "It broke", "occurred_at": self.ago(opened_hours_ago)})["id"]
        if rng.random() < 0.1:
            return  # stays open
        at = opened_hours_ago * rng.uniform(0.2, 0.9)  # hours ago, after opening
        self.post(f"/v1/complaints/{cid}/acknowledge", {"by": "li.na", "occurred_at": self.ago(at)})
        if rng.random() < 0.5:
            self.post(f"/v1/complaints/{cid}/assign", {
                "handler": "zhao", "department_id": rng.choice(self.departments)})
        if rng.random() < 0.3:
            self.post(f"/v1/complaints/{cid}/escalate", {"reason": "called twice"})
        if rng.random() < 0.15:
            return  # in progress
        self.post(f"/v1/complaints/{cid}/resolve", {"resolution": "Replaced the seal"})
        if rng.random() < 0.2:
            self.post(f"/v1/complaints/{cid}/reopen", {"reason": "Still leaking"})
            self.post(f"/v1/complaints/{cid}/resolve", {"resolution": "Replaced the drum"})
        if rng.random() < 0.7:
            self.post(f"/v1/complaints/{cid}/close", {
                "customer_satisfied": rng.choice((True, False, None)),
                "satisfaction": rng.choice((1, 2, 3, 4, 5, None))})

    def feedback(self) -> None:
        kind = self.rng.choice(("praise", "suggestion", "criticism", "inquiry", "complaint"))
        body = {"channel": self.rng.choice(("web", "wechat")), "kind": kind,
                "department_id": self.rng.choice(self.departments),
                "customer_id": self.rng.choice(self.customers),
                "rating": self.rng.choice((1, 2, 3, 4, 5, None)), "text": "Noted",
                "occurred_at": self.ago(self.rng.uniform(0, 72))}
        self.post("/v1/feedback", {k: v for k, v in body.items() if v is not None})

    def response(self) -> None:
        answers = [{"question_id": q["question_id"],
                    "value": self.rng.randint(0, 10) if q["scale"] == "nps10"
                    else self.rng.randint(1, 5)}
                   for q in QUESTIONS if self.rng.random() < 0.8] or [
                       {"question_id": "quality", "value": 4}]
        self.post(f"/v1/surveys/{self.rng.choice(self.surveys)}/responses", {
            "customer_id": self.rng.choice(self.customers + [None]),
            "department_id": self.rng.choice(self.departments), "channel": "web",
            "answers": answers, "occurred_at": self.ago(self.rng.uniform(0, 200))})

    def invite(self) -> None:
        self.post(f"/v1/surveys/{self.rng.choice(self.surveys)}/invitations", {
            "customer_ids": self.rng.sample(self.customers, 5), "channel": "email"})

    def revisit(self) -> None:
        rid = self.post("/v1/revisits", {
            "customer_id": self.rng.choice(self.customers),
            "department_id": self.rng.choice(self.departments),
            "reason": self.rng.choice(("after_service", "periodic")),
            "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()})["id"]
        if self.rng.random() < 0.7:
            self.post(f"/v1/revisits/{rid}/complete", {
                "outcome": "reached", "satisfaction": self.rng.randint(1, 5)})

    def action(self) -> None:
        aid = self.post("/v1/improvement-actions", {
            "department_id": self.rng.choice(self.departments), "title": "Audit supplier",
            "due_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()})["id"]
        if self.rng.random() < 0.7:
            self.post(f"/v1/improvement-actions/{aid}/complete")
            if self.rng.random() < 0.6:
                self.post(f"/v1/improvement-actions/{aid}/verify", {"effective": True})

    def publish_policy(self, **rules) -> None:
        r = self.c.put("/v1/policy", json=rules)
        assert r.status_code == 201, r.text
        self.sent += 1


def wait_for_head(rt, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        head = head_position(rt.pool)
        with rt.pool.connection() as conn:
            rows = conn.execute("SELECT name, position FROM csm_read.projection_status").fetchall()
        reached = {r["name"]: r["position"] for r in rows}
        if all(reached.get(name, 0) >= head for name in ALL):
            return head
        assert time.monotonic() < deadline, f"projections at {reached}, head {head}"
        time.sleep(0.05)


def test_live_read_models_equal_a_fresh_rebuild(served):
    rt, live = served
    with live.client("admin") as client:
        traffic = Traffic(client, random.Random(11))
        traffic.setup()
        for i in range(150):
            if i == 75:
                traffic.publish_policy(high_value_factor=0.25,
                                       dimension_weights={"product_quality": 2.0},
                                       points={"praise": 5, "escalation": -6})
            traffic.step()
    head = wait_for_head(rt)
    assert rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="csm_check") == head
    problems, counts = differences(rt.pool, "csm_read", "csm_check")
    print(f"\nlive vs rebuild: {traffic.sent} commands, {head} events; rows: "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    assert traffic.sent >= 300
    assert not problems, "\n".join(problems)
    assert counts["complaints"] and counts["satisfaction_facts"] and counts["revisits"]


def test_an_in_place_rebuild_under_load_leaves_read_models_equal_to_a_fresh_rebuild(served):
    rt, live = served
    errors: list[BaseException] = []
    started, done = threading.Event(), threading.Event()

    def load(traffic: Traffic) -> None:
        """Commands before, during and after the rebuilds (and a policy change among them)."""
        try:
            i = after = 0
            while after < 40:
                i += 1
                if i == 20:
                    started.set()
                if i == 40:
                    traffic.publish_policy(points={"praise": 4}, high_value_factor=0.3)
                traffic.step()
                after += done.is_set()
                time.sleep(0.01)  # a steady stream, not a flood
        except BaseException as e:  # reported by the test thread
            errors.append(e)
        finally:
            started.set()

    with live.client("admin") as client:
        traffic = Traffic(client, random.Random(23))
        traffic.setup()
        for _ in range(60):
            traffic.step()
        wait_for_head(rt)
        worker = threading.Thread(target=load, args=(traffic,))
        worker.start()
        assert started.wait(60)
        rebuilds = []
        for _ in range(3):  # `csm rebuild`: into fresh tables, swapped into csm_read
            sent, t0 = traffic.sent, time.monotonic()
            position = rebuild(rt.pool, list(ALL.values()), rt.settings.zone)
            rebuilds.append((position, traffic.sent - sent, round(time.monotonic() - t0, 1)))
        done.set()
        worker.join(120)
        assert not errors, errors
    head = wait_for_head(rt)
    assert rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="csm_check") == head
    problems, counts = differences(rt.pool, "csm_read", "csm_check")
    print(f"\nin-place rebuild under load: {traffic.sent} commands, rebuilt in place at "
          f"positions {[r[0] for r in rebuilds]} taking {[r[2] for r in rebuilds]} s with "
          f"{[r[1] for r in rebuilds]} commands answered during each; {head} events; rows: "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    assert not problems, "\n".join(problems)
    assert all(position < head for position, _, _ in rebuilds)
    assert sum(n for _, n, _ in rebuilds) > 0, "no command arrived while rebuilding"
    assert rt.projectors.running()
