"""`Idempotency-Key`: the same key and body answer the first answer and record nothing new.

The key's record is written by a step inside the transaction that records
the command's events, so either both exist or neither does; two requests
racing with one key leave exactly one recording.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from psycopg_pool import ConnectionPool

from csm.domain.commands import Command
from csm.domain.csm import CsmApplication
from csm.domain.errors import DomainError
from csm.infra.group_commit import GroupCommit


class IdempotencyMismatch(Exception):
    """The key was first used with another request."""


class _Replay(Exception):
    """Another request recorded this key first."""


def request_digest(route: str, body: Any) -> str:
    """Equal JSON bodies (in any key order) give the same digest, whatever JSON they hold."""
    return hashlib.sha256(route.encode() + b"\n" + _canonical(body)).hexdigest()


def _canonical(body: Any) -> bytes:
    try:
        # The form every digest already stored was made from.
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits and unpaired surrogates; no stored digest
        # can have such a body, and this form takes any value (a time as its str()).
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def already_seen(pool: ConnectionPool, scope: str, keys: list[str]) -> dict[str, str]:
    """key → the digest of the request first recorded under it, for the keys seen before."""
    with pool.connection() as conn:
        rows = conn.execute("SELECT key, request_hash FROM csm_idempotency "
                            "WHERE scope = %s AND key = ANY(%s)", (scope, keys)).fetchall()
    return {r["key"]: r["request_hash"] for r in rows}


def remember_all(scope: str, entries: list[tuple[str, str, dict[str, Any]]]):
    """A step recording many keys at once (the batch path); a key taken meanwhile fails it."""
    def hook(curs: Any, positions: Sequence[int]) -> None:
        last = positions[-1]
        curs.execute(
            "INSERT INTO csm_idempotency (scope, key, request_hash, answer) "
            "SELECT %s, k, h, a FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS t(k, h, a)",
            (scope, [k for k, _, _ in entries], [h for _, h, _ in entries],
             [Jsonb({**a, "position": last}) for _, _, a in entries]))
    return hook


def run_once(pool: ConnectionPool, app: CsmApplication | GroupCommit, scope: str,
             key: str | None, route: str, body: Any, command: Command) -> dict[str, Any]:
    """Handles the command (by the application, or with others by group commit) unless
    (scope, key) ran before; answers what it answered then."""
    return once(pool, scope, key, route, body,
                lambda steps: app.handle(command, in_transaction=steps))


def once(pool: ConnectionPool, scope: str, key: str | None, route: str, body: Any,
         act: Callable[[Sequence[Any]], Any]) -> dict[str, Any]:
    """Runs `act` (which runs the given steps in its recording transaction) unless (scope,
    key) ran before; answers what it answered then."""
    if key is None:
        return act(()).answer()
    digest = request_digest(route, body)
    earlier = _earlier_answer(pool, scope, key, digest)
    if earlier is not None:
        return earlier

    def remember(curs: Any, positions: Sequence[int], answer: dict[str, Any]) -> None:
        try:
            with curs.connection.transaction():
                curs.execute("INSERT INTO csm_idempotency (scope, key, request_hash, answer) "
                             "VALUES (%s, %s, %s, %s)",
                             (scope, key, digest, Jsonb({**answer, "position": positions[-1]})))
        except psycopg.errors.UniqueViolation:
            raise _Replay() from None

    try:
        return act([remember]).answer()
    except _Replay:
        earlier = _earlier_answer(pool, scope, key, digest)
        assert earlier is not None
        return earlier
    except DomainError:
        # A refusal records nothing. A request with this key may have won the race meanwhile
        # (on the record itself, or by the very change that made this one refused — e.g. the
        # same acknowledge decided right after it in one group): then its answer is this one.
        earlier = _earlier_answer(pool, scope, key, digest)
        if earlier is None:
            raise
        return earlier


def _earlier_answer(pool: ConnectionPool, scope: str, key: str, digest: str
                    ) -> dict[str, Any] | None:
    with pool.connection() as conn:
        row = conn.execute("SELECT request_hash, answer FROM csm_idempotency "
                           "WHERE scope = %s AND key = %s", (scope, key)).fetchone()
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise IdempotencyMismatch(
            f"Idempotency-Key {key!r} was first used with another request; use a new key")
    return row["answer"]

