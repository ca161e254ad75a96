"""`/health`, `/ready` and `/metrics` for the parts that serve no API (`csm relay`, `project`,
`inbound`, `deadlines --health-port N`): a small stdlib HTTP server in a thread, answering
with the same readiness picture as the API."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from csm.infra.readiness_metrics import render


class HealthServer:
    def __init__(self, runtime: Any, host: str, port: int):
        handler = type("Handler", (_Handler,), {"runtime": runtime})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="csm-health",
                                       daemon=True)

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    runtime: Any

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._answer(200, "application/json", b'{"status":"ok"}')
        elif path == "/ready":
            code, body = self.runtime.readiness()
            self._answer(code, "application/json", orjson.dumps(body),
                         {"Retry-After": "1"} if code == 503 else {})
        elif path == "/metrics":
            self._answer(200, CONTENT_TYPE_LATEST, render(*self.runtime.readiness()))
        else:
            self._answer(404, "application/problem+json", orjson.dumps({
                "type": "https://csm.dev/problems/not-found", "title": "Not found",
                "status": 404, "detail": "this port serves /health, /ready and /metrics"}))

    def _answer(self, code: int, media_type: str, body: bytes,
                headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Probes every few seconds would drown the log."""
