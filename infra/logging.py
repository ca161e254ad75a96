"""structlog, configured once: one JSON line per record on stderr, from csm and the libraries.

csm's own events and the stdlib records of kafka-python, uvicorn and the rest
pass through one handler — its lock keeps each line whole, whichever thread
writes — and one renderer. Every line carries `timestamp` (UTC), `level`,
`part` (the process that wrote it: `api`, `relay`, `project`, `inbound`,
`deadlines`, `serve`, …) and `event`; library records also `logger`.

While a broker is away kafka-python repeats the same complaint on every
reconnect attempt. A library record is let through once per `REPEAT_WINDOW`
seconds per message template (with `repeated`: how many it stood for); the
parts themselves say once when the broker goes and once when it is back.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

import structlog

REPEAT_WINDOW = 300.0
# Libraries whose repeated records are thinned out (see the module docstring).
CHATTY = ("kafka",)
# kafka-python's INFO is a line per connection and per metadata update.
# kafka-python is chatty; httpx logs each in-process query the dashboard makes.
QUIET = {"kafka": logging.WARNING, "httpx": logging.WARNING}


class Repeats(logging.Filter):
    """Lets a chatty library's message template through once per window."""

    def __init__(self, window: float, names: tuple[str, ...] = CHATTY, limit: int = 2000):
        super().__init__()
        self.window, self.names, self.limit = window, names, limit
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.names):
            return True
        key, now = (record.name, str(record.msg)), time.monotonic()
        with self.lock:
            entry = self.seen.get(key)
            if entry is not None and now - entry[0] < self.window:
                entry[1] += 1
                return False
            if len(self.seen) >= self.limit:  # templates built at run time: stay bounded
                self.seen.clear()
            self.seen[key] = [now, 0]
        if entry is not None and entry[1]:
            record.repeated = entry[1]
        return True


def _part(part: str):
    def add_part(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("part", part)
        return event
    return add_part


def configure_logging(level: str = "INFO", part: str = "csm", stream: TextIO | None = None
                      ) -> None:
    """Routes structlog and every stdlib logger into one JSON writer on `stream` (stderr)."""
    threshold = logging.getLevelName(level.upper())
    shared = [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
              _part(part), structlog.processors.TimeStamper(fmt="iso", utc=True)]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder(allow=("repeated",))],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()]))
    handler.addFilter(Repeats(REPEAT_WINDOW))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(threshold, floor))
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    sys.unraisablehook = _unraisable
    threading.excepthook = _thread_failed


def _unraisable(info: Any) -> None:
    # e.g. an exception in a __del__ at interpreter exit: a JSON line, not a bare traceback.
    try:
        structlog.get_logger().error(
            "unraisable_exception", object=repr(info.object)[:200],
            exc_info=(info.exc_type, info.exc_value, info.exc_traceback))
    except Exception:  # logging itself is being torn down: the interpreter's own report
        sys.__unraisablehook__(info)


def _thread_failed(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    try:
        structlog.get_logger().error(
            "thread_failed", thread=getattr(args.thread, "name", None),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    except Exception:
        sys.__excepthook__(args.exc_type, args.exc_value, args.exc_traceback)
