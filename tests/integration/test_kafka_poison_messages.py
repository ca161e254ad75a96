"""Poison messages on the inbound topic land in the DLQ; the valid ones around them apply.

Every unacceptable message — not JSON, wrong shape, unknown type, out-of-range
values, unknown target, 2 MiB — must reach the dead-letter topic with its
original bytes, a readable `error` header and `original_topic/partition/offset`
headers naming where it was read, and the consumer must move on: every valid
message produced between them has its effect exactly once.
"""
from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database
from tests.read_model_checks import compare_with_rebuild
from bench.inbound_messages import InMsg, derived_id, envelope, expected, inbound_messages, inbound_producer
from bench.topics import Topics
from bench.world import make_world
from csm.consumers.kafka_io import header
from tests.events_topic import check_events_topic, consume_all, rows_line
from tests.http_load import check_inbound_effects
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import running_stack, kafka_settings
from tests.kafka_progress import progress, wait_caught_up

BIG = 2 * 1024 * 1024
# What the libraries say, which an adapter's developer should not have to decode.
INTERNAL_WORDS = ("instance of Envelope", "valid dictionary", "str is not valid UTF-8",
                  "Error:", "Exception", "Traceback")


def poison_cases(w, tag: str) -> list[tuple[str, bytes | None, str]]:
    """(what, value, a word the error header should contain)."""
    dep, cus, srv = w.departments[0], w.customers[0], w.surveys[0]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    fb = {"channel": "web", "kind": "praise", "department_id": dep}

    def env(i: str, type_: str, payload: dict, **extra) -> bytes:
        return envelope(f"{tag}-poison-{i}", type_, payload, **extra)

    return [
        ("not JSON", b"this is not json {", "JSON"),
        ("truncated JSON", env("trunc", "feedback.submitted", fb)[:-7], "JSON"),
        ("not UTF-8", b'{"message_id": "\xff\xfe", "type": 1}', "not UTF-8 text: byte 16"),
        ("empty value", b"", "empty message"),
        ("tombstone (no value)", None, "empty"),
        ("JSON array", b"[1, 2, 3]", "must be a JSON object"),
        ("JSON null", b"null", "must be a JSON object"),
        ("JSON string", b'"feedback.submitted"', "must be a JSON object"),
        ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "nested deeper than 1024"),
        ("unpaired surrogate", b'{"message_id": "\\ud800", "type": "feedback.submitted"}',
         "unpaired surrogate"),
        ("integer beyond 64 bits", b'{"message_id": "x", "type": "feedback.submitted", '
         b'"source": "s", "payload": {"channel": "web", "kind": "praise", '
         b'"rating": 123456789012345678901234567890}}', ""),
        ("no message_id", orjson.dumps({"type": "feedback.submitted", "source": "s",
                                        "payload": fb}), "message_id"),
        ("payload is a list", orjson.dumps({"message_id": f"{tag}-poison-list",
                                            "type": "feedback.submitted", "source": "s",
                                            "payload": [fb]}),
         "payload: must be a JSON object, not an array"),
        ("unknown envelope field", env("extra", "feedback.submitted", fb, priority="high"),
         "priority"),
        ("message_id of 300 characters", envelope("m" * 300, "feedback.submitted", fb),
         "message_id"),
        ("unknown type", env("type", "complaint.deleted", {"complaint_id": "x"}), "type"),
        ("type of another case", env("case", "Feedback.Submitted", fb), "type"),
        ("rating 6", env("rating", "feedback.submitted", {**fb, "rating": 6}),
         "payload.rating: "),
        ("rating as a string", env("rating-str", "feedback.submitted", {**fb, "rating": "5"}),
         "rating"),
        ("unknown severity", env("sev", "complaint.opened", {
            "channel": "web", "department_id": dep, "severity": "apocalyptic",
            "description": "x"}), "severity"),
        ("id with a space", env("badid", "complaint.opened", {
            "complaint_id": "a b", "channel": "web", "department_id": dep, "severity": "low",
            "description": "x"}), "complaint_id"),
        ("NPS answer 11", env("nps", "survey.answered", {
            "survey_id": srv, "channel": "web", "answers": [{"question_id": "nps",
                                                            "value": 11}]}), ""),
        ("unknown question", env("question", "survey.answered", {
            "survey_id": srv, "channel": "web", "answers": [{"question_id": "nope",
                                                            "value": 3}]}), ""),
        ("occurred two days ahead", env("future", "feedback.submitted", fb, occurred_at=future),
         "occurred_at"),
        ("occurred in year 1 at +14:00", env("year1", "feedback.submitted", {
            **fb, "occurred_at": "0001-01-01T00:00:00+14:00"}), "years 1900–9999"),
        ("occurred at +20:00", env("tz20", "complaint.opened", {
            "channel": "web", "department_id": dep, "severity": "low", "description": "x",
            "occurred_at": "2026-11-30T10:00:00+20:00"}), "offset +20:00"),
        ("envelope occurred at -20:16", env("envtz", "feedback.submitted", fb,
                                            occurred_at="2030-01-01T00:00:00-20:16"), "±14:00"),
        ("NUL in a description", env("nul", "complaint.opened", {
            "channel": "web", "department_id": dep, "severity": "low",
            "description": "a\u0000b"}), "U+0000"),
        ("revisit satisfaction 0", env("sat", "revisit.completed", {
            "revisit_id": w.revisits[0], "outcome": "reached", "satisfaction": 0}),
         "satisfaction"),
        ("unknown department", env("dep", "feedback.submitted", {**fb, "department_id": "nope"}),
         "not found"),
        ("unknown customer", env("cus", "complaint.opened", {
            "customer_id": "no-such-customer", "channel": "web", "department_id": dep,
            "severity": "low", "description": "x"}), "payload.customer_id: customer "),
        ("unknown complaint to reopen", env("reo", "complaint.reopened", {
            "complaint_id": "no-such-complaint", "reason": "x"}), "not found"),
        ("unknown survey", env("srv", "survey.answered", {
            "survey_id": "no-such-survey", "channel": "web",
            "answers": [{"question_id": "quality", "value": 3}]}), "not found"),
        ("unknown revisit", env("rev", "revisit.completed", {
            "revisit_id": "no-such-revisit", "outcome": "reached"}), "not found"),
        ("reopen of an open complaint", env("open", "complaint.reopened", {
            "complaint_id": w.open_complaint, "reason": "x"}), ""),
        ("customer id already taken", env("taken", "customer.registered", {
            "customer_id": cus, "name": "Someone else"}), ""),
        ("2 MiB", env("big", "complaint.opened", {
            "channel": "web", "department_id": dep, "severity": "low",
            "description": "x" * BIG}), "bytes"),
    ]


@pytest.fixture
def stack(pg_server, kafka_broker, tmp_path):
    with running_stack(pg_server, kafka_broker, tmp_path, "poison") as parts:
        yield parts


def test_poison_messages_land_in_the_dlq_with_their_bytes_and_origin_and_the_valid_ones_apply(
        stack, kafka_broker):
    rt, live, topics, parts = stack
    bootstrap = kafka_broker.bootstrap_servers
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag, reopenable=5, revisits=5)
        world.open_complaint = c.post("/v1/complaints", json={
            "complaint_id": f"{tag}-still-open", "channel": "web",
            "department_id": world.departments[0], "severity": "low",
            "description": "open"}).json()["id"]
    valid = inbound_messages(world, 300, tag, random.Random(5), repeat_share=0.05)
    poisons = poison_cases(world, tag)

    # valid, poison, valid, poison, …: every poison sits between valid messages of its partition
    prod = inbound_producer(bootstrap)
    sent_poison: dict[tuple[int, int], tuple[str, bytes | None, str]] = {}
    produced: list[InMsg] = []
    futures = []
    per_gap = len(valid) // (len(poisons) + 1)
    for i, case in enumerate([None, *poisons]):
        if case is not None:  # keyed like the valid ones: in the same partitions, between them
            key = f"k{i % 7}".encode()
            futures.append((case, prod.send(topics.inbound, key=key, value=case[1])))
        for m in valid[i * per_gap:(i + 1) * per_gap]:
            prod.send(topics.inbound, key=f"k{len(produced) % 7}".encode(), value=m.value)
            produced.append(m)
    for m in valid[(len(poisons) + 1) * per_gap:]:
        prod.send(topics.inbound, key=b"tail", value=m.value)
        produced.append(m)
    prod.flush(60)
    for case, f in futures:
        meta = f.get(timeout=30)
        sent_poison[(meta.partition, meta.offset)] = case
    prod.close()
    exp = expected(produced)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        p = progress(rt.pool, topics.events)
        if p["inbound"] >= len(exp.message_ids) and parts.inbound.dead_lettered >= len(poisons):
            break
        time.sleep(0.2)
    assert p["inbound"] >= len(exp.message_ids), (
        f"inbound stalled: {p['inbound']} of {len(exp.message_ids)} valid messages applied, "
        f"{parts.inbound.dead_lettered} of {len(poisons)} poisons dead-lettered")
    caught = wait_caught_up(rt.pool, topics.events, 120, inbound=len(exp.message_ids))

    dead = consume_all(bootstrap, topics.dlq)
    seen: dict[tuple[int, int], object] = {}
    problems = []
    for d in dead:
        origin = (header(d.headers, "original_topic"), header(d.headers, "original_partition"),
                  header(d.headers, "original_offset"))
        if origin[0] != topics.inbound:
            problems.append(f"DLQ record with original_topic {origin[0]!r}")
            continue
        where = (int(origin[1]), int(origin[2]))
        case = sent_poison.get(where)
        if case is None:
            problems.append(f"a message that is not poison was dead-lettered: {where} "
                            f"{(d.value or b'')[:200]!r} error {header(d.headers, 'error')}")
            continue
        seen[where] = d
        if d.value != case[1]:
            problems.append(f"{case[0]}: DLQ value is not the original bytes "
                            f"({len(d.value or b'')} vs {len(case[1] or b'')} bytes)")
        error = header(d.headers, "error") or ""
        if len(error) < 8 or case[2].lower() not in error.lower():
            problems.append(f"{case[0]}: error header {error!r} does not say why ({case[2]!r})")
        if any(inside in error for inside in INTERNAL_WORDS):
            problems.append(f"{case[0]}: error header {error!r} speaks the parser's language")
    for where, case in sent_poison.items():
        if where not in seen:
            problems.append(f"{case[0]} (partition {where[0]} offset {where[1]}) is not in the DLQ")

    report = check_events_topic(rt.pool, bootstrap, topics.events)
    inbound_problems, inbound_counts = check_inbound_effects(rt.pool, exp)
    differ, counts, at = compare_with_rebuild(rt)
    with rt.pool.connection() as conn:   # anything recorded after the topic was checked
        late = conn.execute("SELECT notification_id, originator_id, originator_version, topic "
                            "FROM csm_events WHERE notification_id > %s ORDER BY 1",
                            (caught["head"],)).fetchall()
    if late:
        print(f"recorded after everything had caught up: {[tuple(r.values()) for r in late]}")

    print(f"\npoison: {len(poisons)} poison messages among {exp.sent} valid ones "
          f"({len(exp.message_ids)} distinct); DLQ holds {len(dead)} records, "
          f"{len(seen)} of the poisons; inbound accepted {parts.inbound.accepted}, "
          f"dead-lettered {parts.inbound.dead_lettered}; {inbound_counts}; "
          f"events {caught['head']}")
    for where, d in sorted(seen.items()):
        print(f"  {sent_poison[where][0]:<32} p{where[0]}@{where[1]:<5} "
              f"{len(d.value or b''):>8} B  {header(d.headers, 'error')[:110]}")
    print(f"topic: {report.line()}")
    print(f"read models equal a rebuild at {at}: {rows_line(counts)}")
    assert not problems, "\n".join(problems)
    assert not inbound_problems, "\n".join(inbound_problems)
    assert not report.problems, "\n".join(report.problems)
    assert not differ, "\n".join(differ)


def test_a_message_id_the_database_cannot_store_goes_to_the_dlq_instead_of_stalling_inbound(
        stack, kafka_broker):
    """A NUL character is valid JSON and a valid str, but PostgreSQL text cannot hold it."""
    rt, live, topics, parts = stack
    bootstrap = kafka_broker.bootstrap_servers
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag)
    before = inbound_messages(world, 10, tag + "-before", random.Random(9), repeat_share=0)
    after = inbound_messages(world, 10, tag + "-after", random.Random(10), repeat_share=0)
    poison = envelope(f"{tag}-nul\u0000id", "feedback.submitted",
                      {"channel": "web", "kind": "praise", "department_id": world.departments[0]})
    assert b"\\u0000" in poison
    prod = inbound_producer(bootstrap)
    for m in before:
        prod.send(topics.inbound, key=b"same", value=m.value)
    meta = prod.send(topics.inbound, key=b"same", value=poison).get(timeout=30)
    for m in after:
        prod.send(topics.inbound, key=b"same", value=m.value)
    prod.flush(30)
    prod.close()
    exp = expected(before + after)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        p = progress(rt.pool, topics.events)
        if p["inbound"] >= len(exp.message_ids) and parts.inbound.dead_lettered >= 1:
            break
        time.sleep(0.2)
    dead = consume_all(bootstrap, topics.dlq)
    print(f"\nNUL message_id: {len(before)} valid before it, {len(after)} after it in the same "
          f"partition; {p['inbound']} of {len(exp.message_ids)} applied after 30 s; "
          f"{len(dead)} dead letters "
          + str([(header(d.headers, "original_offset"), header(d.headers, "error")) for d in dead]))
    assert p["inbound"] == len(exp.message_ids), (
        f"inbound consumer stalled at the message with a NUL in its message_id (partition "
        f"{meta.partition} offset {meta.offset}): {p['inbound']} of {len(exp.message_ids)} valid "
        f"messages of that partition applied ({len(before)} were before it)")
    assert [(int(header(d.headers, "original_offset")), d.value) for d in dead] == [
        (meta.offset, poison)]


def test_a_message_id_sent_again_with_another_body_goes_to_the_dlq_each_time(stack, kafka_broker):
    """The inbound twin of HTTP's 422 for an Idempotency-Key reused with another body: the
    conflicting message is not applied, and it is not dropped silently either — each attempt
    is a dead letter of its own, however alike the attempts are."""
    rt, live, topics, parts = stack
    bootstrap = kafka_broker.bootstrap_servers
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag)
    fb = {"channel": "web", "kind": "praise", "department_id": world.departments[0]}
    first = envelope(f"{tag}-dup", "feedback.submitted", {**fb, "rating": 5})
    other = envelope(f"{tag}-dup", "feedback.submitted", {**fb, "rating": 1})
    prod = inbound_producer(bootstrap)
    prod.send(topics.inbound, key=b"same", value=first).get(timeout=30)
    deadline = time.monotonic() + 60
    while progress(rt.pool, topics.events)["inbound"] < 1:   # the first is recorded
        assert time.monotonic() < deadline, "the first message was never applied"
        time.sleep(0.2)
    metas, applied = [], 1
    for round_ in range(2):
        metas.append(prod.send(topics.inbound, key=b"same", value=other).get(timeout=30))
        after = inbound_messages(world, 5, f"{tag}-after{round_}", random.Random(round_),
                                 repeat_share=0)
        for m in after:
            prod.send(topics.inbound, key=b"same", value=m.value)
        prod.flush(30)
        applied += len(after)
        deadline = time.monotonic() + 60
        while (p := progress(rt.pool, topics.events))["inbound"] < applied:
            assert time.monotonic() < deadline, f"inbound stalled: {p}"
            time.sleep(0.2)   # the messages after it (same partition) are applied: it was handled
    prod.close()
    dead = consume_all(bootstrap, topics.dlq)
    with rt.pool.connection() as conn:
        ratings = [r["state"] for r in conn.execute(
            "SELECT state FROM csm_events WHERE originator_id = %s",
            (derived_id(f"{tag}-dup"),)).fetchall()]
    print(f"\nsame message_id, other body, twice: {p['inbound']} inbound records, "
          f"{len(ratings)} events for its feedback, {len(dead)} dead letters "
          + str([(header(d.headers, "original_offset"), header(d.headers, "error")) for d in dead]))
    assert p["inbound"] == applied
    assert len(ratings) == 1, "the second body had an effect"
    assert [(int(header(d.headers, "original_offset")), d.value) for d in dead] == [
        (meta.offset, other) for meta in metas], (
        "a message reusing a message_id with another body was not dead-lettered each time")
    assert all(header(d.headers, "error") == f"message_id: '{tag}-dup' was first used with "
               "another body" for d in dead)


def test_a_dead_letter_too_large_for_the_dlq_goes_there_without_its_bytes_and_nothing_stalls(
        pg_server, kafka_broker, tmp_path):
    """When the DLQ cannot take a poison message (here: its topic allows 1 MiB records and
    the message is 1.5 MiB), the message must not vanish: its DLQ record names where its
    bytes are, and the messages after it are applied."""
    topics = Topics.fresh("dlqfull")
    topics.create(kafka_broker.bootstrap_servers, dlq_max_message_bytes=1024 * 1024)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics))
    parts = rt.start_kafka_parts({"inbound"})
    live = LiveServer(rt)
    try:
        bootstrap = kafka_broker.bootstrap_servers
        tag = topics.events.split(".")[0]
        with live.client("admin") as c:
            world = make_world(c, tag)
        after = inbound_messages(world, 5, tag, random.Random(4), repeat_share=0)
        poison = b"x" * (1536 * 1024)
        prod = inbound_producer(bootstrap)
        meta = prod.send(topics.inbound, key=b"same", value=poison).get(timeout=30)
        for m in after:
            prod.send(topics.inbound, key=b"same", value=m.value)
        prod.flush(30)
        prod.close()
        deadline = time.monotonic() + 60
        while (p := progress(rt.pool, topics.events))["inbound"] < len(after):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(2)      # a commit after the last batch
        dead = consume_all(bootstrap, topics.dlq)
        check = KafkaConsumer(bootstrap_servers=bootstrap, group_id="csm-inbound",
                              enable_auto_commit=False)
        try:
            committed = check.committed(TopicPartition(topics.inbound, meta.partition))
        finally:
            check.close()
        print(f"\nDLQ refusing a 1.5 MiB dead letter: {len(dead)} records in the DLQ, "
              f"{p['inbound']} of {len(after)} later messages applied, committed offset "
              f"{committed} (poison at {meta.offset}), dead_lettered counter "
              f"{parts.inbound.dead_lettered}")
        assert [(d.value, header(d.headers, "original_offset"),
                 "too large for the DLQ" in (header(d.headers, "error_detail") or ""))
                for d in dead] == [(None, str(meta.offset), True)]
        assert p["inbound"] == len(after), "the messages after the large one were not applied"
        assert committed is not None and committed > meta.offset
    finally:
        live.stop()
        rt.close()
