"""ASGI middleware: a request id per request, the key checked before the body is read,
bodies over 1 MiB or slower than `CSM_BODY_TIMEOUT_SECONDS` refused, metrics."""
from __future__ import annotations

import asyncio
import time
import uuid

import structlog
from prometheus_client import Counter, Histogram

from csm.api.deps import caller_for, checks_key_itself, is_public
from csm.api.errors import BodyTooSlow, TooLarge, Unauthorized, answer_for

MAX_BODY = 1024 * 1024
REQUESTS = Counter("csm_http_requests_total", "HTTP requests", ["method", "status"])
LATENCY = Histogram("csm_http_request_seconds", "HTTP request latency", ["method"])
log = structlog.get_logger()


class RequestContext:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started, status, sent_start = time.perf_counter(), [500], [False]

        async def tagged_send(message):
            if message["type"] == "http.response.start":
                sent_start[0] = True
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            refusal = self._refusal(scope, headers)
            if refusal is not None:
                return await answer_for(refusal)(scope, receive, tagged_send)
            await self.app(scope, self._guarded_receive(scope, receive), tagged_send)
        except (TooLarge, BodyTooSlow) as exc:
            # Raised outside a route, where no exception handler turned it into an answer.
            if not sent_start[0]:
                await answer_for(exc)(scope, receive, tagged_send)
        finally:
            REQUESTS.labels(scope["method"], str(status[0])).inc()
            LATENCY.labels(scope["method"]).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _refusal(self, scope, headers: dict[bytes, bytes]) -> Exception | None:
        """Why the request is refused before its body is read, if it is."""
        app = scope["app"]
        if not (is_public(scope["path"]) or checks_key_itself(scope["path"])):
            authorization = headers.get(b"authorization")
            try:
                caller_for(app.state.runtime.api_keys,
                           authorization.decode("latin-1") if authorization else None)
            except Unauthorized as exc:
                return exc
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return TooLarge(MAX_BODY)
        return None

    @staticmethod
    def _guarded_receive(scope, receive):
        """`receive` that refuses a body over MAX_BODY or slower than the body timeout."""
        seconds = scope["app"].state.runtime.settings.csm_body_timeout_seconds
        deadline, seen, done = time.monotonic() + seconds, [0], [False]

        async def guarded():
            if done[0]:  # later calls wait for a disconnect, which may take any time
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("request_body_too_slow", seconds=seconds, received=seen[0])
                raise BodyTooSlow(seconds) from None
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > MAX_BODY:
                    raise TooLarge(MAX_BODY)
                done[0] = not message.get("more_body", False)
            else:
                done[0] = True
            return message
        return guarded
