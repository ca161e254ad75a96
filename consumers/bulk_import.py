"""`csm import FILE`: a history of inbound-shaped JSON lines recorded in batches.

Each line holds one message as the inbound consumer takes it from Kafka (`{message_id,
type, source, occurred_at, payload}`); blank lines are passed over. A batch of lines is
decided together and recorded in one transaction, with the consumer's parsing, commands
and idempotency records (`consumers.inbound_batch`), so:

- a `message_id` recorded before (by an earlier run of the same file, or by the consumer)
  records nothing new and counts as a duplicate;
- a line that is not JSON, not a known type, or refused by the domain is reported with its
  line number and reason, and the other lines of its batch are recorded all the same;
- a line whose target is not known yet (a reopen of a complaint opened further down) is
  tried once more after the last line, in file order, and only then reported.

Each batch commits on its own: an import stopped midway (the store unreachable, Ctrl-C)
keeps what it committed, and the same file run again goes on from there.
"""
from __future__ import annotations

import io
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from csm.consumers.inbound_batch import (
    REFUSED,
    Duplicate,
    Message,
    decide,
    parse,
    why,
)
from csm.consumers.inbound_commands import Envelope
from csm.consumers.refusal_reasons import NOT_FOUND, reason
from csm.domain.application import NothingToRecord, Recorded
from csm.domain.errors import NotFound

BATCH = 1000
PROGRESS_BYTES = 256 * 1024
Reject = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Line:
    number: int   # 1 for the first line of the file
    value: bytes


@dataclass
class Summary:
    lines: int = 0        # lines holding something (blank ones are not counted)
    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0
    retried: int = 0      # lines whose target was not known yet, tried again at the end
    events: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        rate = self.events / self.seconds if self.seconds else 0.0
        return {"lines": self.lines, "recorded": self.recorded, "duplicates": self.duplicates,
                "rejected": self.rejected, "retried": self.retried, "events": self.events,
                "seconds": round(self.seconds, 3), "events_per_s": round(rate)}


@dataclass
class BulkImport:
    """Feed it lines (`add`), then `finish`; each refused line goes to `reject`."""
    pool: Any
    app: Any
    reject: Reject
    batch: int = BATCH
    summary: Summary = field(default_factory=Summary)
    _later: list[Message] = field(default_factory=list)
    _started: float = field(default_factory=time.perf_counter)

    def add(self, lines: Iterable[Line]) -> None:
        """Decides and records the lines, `batch` at a time."""
        chunk: list[Line] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= self.batch:
                self._lines(chunk)
                chunk = []
        if chunk:
            self._lines(chunk)

    def finish(self) -> Summary:
        """Tries once more the lines whose target was not known; the summary."""
        later, self._later = self._later, []
        self.summary.retried = len(later)
        for i in range(0, len(later), self.batch):
            self._decide(later[i:i + self.batch], last=True)
        self.summary.seconds = time.perf_counter() - self._started
        return self.summary

    def _lines(self, lines: list[Line]) -> None:
        msgs = []
        for line in lines:
            self.summary.lines += 1
            try:
                msgs.append(parse(line.value, line))
            except REFUSED as exc:
                self._refused(line, getattr(exc, "env", None), reason(exc))
        self._decide(msgs, last=False)

    def _decide(self, msgs: list[Message], last: bool) -> None:
        done = decide(self.pool, self.app, msgs)
        self.summary.events += done.events
        for m, outcome in zip(msgs, done.outcomes):
            if isinstance(outcome, (Recorded, NothingToRecord)):
                self.summary.recorded += 1
            elif isinstance(outcome, Duplicate):
                self.summary.duplicates += 1
            elif isinstance(outcome, NotFound) and not last:
                self._later.append(m)
            elif isinstance(outcome, NotFound):
                self._refused(m.rec, m.env, unknown_target(outcome, m.body))
            elif isinstance(outcome, REFUSED):
                self._refused(m.rec, m.env, why(m, outcome))
            else:
                raise outcome

    def _refused(self, line: Line, env: Envelope | None, reason_: str) -> None:
        self.summary.rejected += 1
        self.reject({"line": line.number, "message_id": env.message_id if env else None,
                     "type": env.type if env else None, "reason": reason_})


def unknown_target(exc: NotFound, body: dict[str, Any]) -> str:
    """A target still unknown after the last line, naming the payload field."""
    m = NOT_FOUND.match(str(exc))
    field_ = f"{m.group(1)}_id" if m else None
    prefix = f"payload.{field_}: " if field_ in body else ""
    return f"{prefix}{exc}, also after the last line of the file"


def read_lines(stream: IO[bytes], progress: Callable[[int], Any] | None = None
               ) -> Iterator[Line]:
    """The file's non-blank lines, numbered from 1; `progress(bytes)` now and then."""
    unreported = 0
    for number, raw in enumerate(stream, 1):
        unreported += len(raw)
        if progress is not None and unreported >= PROGRESS_BYTES:
            progress(unreported)
            unreported = 0
        value = raw.rstrip(b"\r\n")
        if value.strip():
            yield Line(number, value)
    if progress is not None and unreported:
        progress(unreported)


def import_file(pool: Any, app: Any, source: IO[bytes], rejects: IO[str] | None,
                batch: int = BATCH) -> Summary:
    """Imports `source` with a progress bar (bytes) on stderr; each rejected line as a JSON
    line to `rejects`, or to stderr when there is none."""
    from tqdm import tqdm

    with tqdm(total=_size(source), unit="B", unit_scale=True, file=sys.stderr,
              desc="import") as bar:
        def reject(entry: dict[str, Any]) -> None:
            line = orjson.dumps(entry).decode()
            if rejects is not None:
                rejects.write(line + "\n")
            else:
                bar.write(line, file=sys.stderr)
        run = BulkImport(pool, app, reject, batch)
        run.add(read_lines(source, bar.update))
        return run.finish()


def _size(stream: IO[bytes]) -> int | None:
    """The size of a regular file (the bar's total); None for a pipe or stdin."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None
