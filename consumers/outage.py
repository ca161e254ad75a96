"""A condition a part cannot help (the broker away, the store down): one line when it begins,
one when it ends, however many retries lie between."""
from __future__ import annotations

import time
from typing import Any

import structlog

log = structlog.get_logger()


class Outage:
    def __init__(self, began: str, ended: str, **fields: Any):
        self.began, self.ended, self.fields = began, ended, fields
        self.since: float | None = None
        self.error: str | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self, error: BaseException | str, trace: bool = False) -> None:
        """`trace`: the first line also carries the traceback (an error nobody expected)."""
        if self.since is not None:
            return
        self.since = time.monotonic()
        self.error = error if isinstance(error, str) else repr(error)[:300]
        extra = {"exc_info": error} if trace and isinstance(error, BaseException) else {}
        log.warning(self.began, error=self.error, **self.fields, **extra)

    def end(self) -> None:
        if self.since is None:
            return
        lasted = time.monotonic() - self.since
        self.since = self.error = None
        # At the level of the line that began it: whoever saw that one sees this one.
        log.warning(self.ended, after_seconds=round(lasted, 1), **self.fields)
