"""ASGI middleware: a request id per request, bodies over 1 MiB refused with 413, metrics."""
from __future__ import annotations

import time
import uuid

import orjson
import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException

MAX_BODY = 1024 * 1024
REQUESTS = Counter("csm_http_requests_total", "HTTP requests", ["method", "status"])
LATENCY = Histogram("csm_http_request_seconds", "HTTP request latency", ["method"])
log = structlog.get_logger()


class TooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit."""

    def __init__(self) -> None:
        super().__init__(413, f"request bodies are limited to {MAX_BODY} bytes")


def _problem_413() -> bytes:
    return orjson.dumps({"type": "https://csm.dev/problems/too-large", "title": "Body too large",
                         "status": 413, "detail": f"request bodies are limited to {MAX_BODY} bytes"})


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
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return await self._reject(send, request_id)
        seen = [0]

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > MAX_BODY:
                    raise TooLarge()
            return message

        async def tagged_send(message):
            if message["type"] == "http.response.start":
                sent_start[0] = True
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, tagged_send)
        except TooLarge:
            if not sent_start[0]:
                await self._reject(send, request_id)
        finally:
            REQUESTS.labels(scope["method"], str(status[0])).inc()
            LATENCY.labels(scope["method"]).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    @staticmethod
    async def _reject(send, request_id: str) -> None:
        body = _problem_413()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()), (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})
