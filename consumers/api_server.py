"""The uvicorn server of the API, set up one way for `csm serve`/`csm api` and each of
their `--workers` processes."""
from __future__ import annotations

import contextlib

import uvicorn

from csm.api.app import create_app
from csm.infra.runtime import Runtime


def api_server(runtime: Runtime, host: str, port: int) -> uvicorn.Server:
    """The API of `runtime` on host:port; the caller handles SIGINT/SIGTERM itself.

    log_config=None: uvicorn installs no handlers or formatters of its own, so its records
    (uvicorn.error, uvicorn.access) go to the same JSON writer as csm's. Idle keep-alive
    connections close after 5 s and a request head is at most 16 KiB; a body slower than
    CSM_BODY_TIMEOUT_SECONDS is dropped by the API itself. The event loop is uvloop's where it
    is installed (a dependency but on Windows), which answers about an eighth more commands
    a second than asyncio's own; requests are parsed by h11, which bounds the head."""
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host=host, port=port,
                                           log_config=None, log_level=None,
                                           access_log=False, timeout_keep_alive=5,
                                           http="h11", loop="auto",
                                           h11_max_incomplete_event_size=16 * 1024))
    # uvicorn re-raises SIGTERM after its shutdown, which would skip the caller's cleanup
    # (closing the runtime, stopping the embedded PostgreSQL): the caller takes the signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    return server
