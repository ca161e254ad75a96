"""Log lines: one whole JSON object each, whichever thread writes; a chatty library thinned."""
from __future__ import annotations

import io
import logging
import os
import threading
import time

import orjson
import structlog

from csm.infra.logging import Repeats, configure_logging


def test_lines_written_by_many_threads_at_once_are_each_one_whole_json_object_naming_the_part():
    out = io.StringIO()
    configure_logging("INFO", "relay", stream=out)
    try:
        def write(n: int) -> None:
            for i in range(200):
                structlog.get_logger().info("batch_published", thread=n, i=i, pad="x" * 5000)
                logging.getLogger("a.library").warning("request %s/%s %s", n, i, "y" * 5000)
        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        configure_logging(os.environ.get("CSM_TEST_LOG_LEVEL", "WARNING"))
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 6 * 200 * 2
    assert {r["part"] for r in records} == {"relay"}
    assert all({"timestamp", "level", "event"} <= set(r) for r in records)
    assert sum(r.get("logger") == "a.library" for r in records) == 6 * 200


def test_a_library_message_repeated_on_every_retry_is_let_through_once_per_window_with_the_count():
    repeats = Repeats(window=0.05)

    def passes(name: str, msg: str = "Connection failed: %s") -> logging.LogRecord | None:
        record = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("refused",), None)
        return record if repeats.filter(record) else None

    assert [passes("kafka.net.manager") is not None for _ in range(4)] == [True, False, False,
                                                                            False]
    assert passes("kafka.net.manager", "Other: %s") is not None   # another template
    assert passes("uvicorn.error") is not None and passes("uvicorn.error") is not None
    time.sleep(0.06)
    again = passes("kafka.net.manager")
    assert again is not None and again.repeated == 3
