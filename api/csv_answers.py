"""A query's answer as CSV: the same rows as its JSON, one header line, streamed.

The rows are the body's `rows` or `items` list (the backlog: its `items`; a body with
neither, such as a survey's stats, is one row). The header names the columns in the order
of the first row's keys; with no rows at all it names every field of the route's row model
(so it may list group columns a grouped answer would leave out), and with no model either
the body is empty, without a header. A cell holds what the JSON value holds: text and
numbers as they are, null as an empty cell, true/false, dates and moments in ISO 8601, and
a nested object or list as compact JSON text.

The rows come as the query gives them: most queries have gathered them in a list already;
an iterator (the ledger's server-side cursor) is read only as the client reads. Either way
the document is written a row at a time into a small buffer and sent in chunks, never built
whole. The first row is read before the answer starts, so a failing query is still answered
as a problem; a failure later can only cut the stream short.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, get_args

from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

MEDIA_TYPE = "text/csv; charset=utf-8"
LISTINGS = ("rows", "items")
CHUNK_CHARS = 64 * 1024
_END = object()


def model_columns(model: Any) -> list[str]:
    """The columns of a response model's rows: the fields of its `rows`/`items` element
    model, or its own fields when it has no listing; none when it is not a pydantic model."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    fields = model.model_fields
    listing = next((fields[name] for name in LISTINGS if name in fields), None)
    if listing is None:
        return list(fields)
    element = next(iter(get_args(listing.annotation)), None)
    return model_columns(element) if element is not None else []


def rows_of(body: Any) -> list[Any]:
    """The rows of a JSON body: its `rows` or `items`, or the body itself as one row."""
    if isinstance(body, Mapping):
        for name in LISTINGS:
            if name in body:
                return body[name]
    return [body]


def cell(value: Any) -> Any:
    """A JSON-encoded value as a CSV cell."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


PLAIN = (str, int, float, bool, type(None))
DATES = (datetime, date)


def encoded(row: Any) -> Any:
    """`jsonable_encoder(row)`, with a direct path for a row of plain values and times (a
    ledger line: most of the cost of a long export was the general encoder)."""
    if type(row) is dict and all(isinstance(v, PLAIN + DATES) for v in row.values()):
        return {k: v.isoformat() if isinstance(v, DATES) else v for k, v in row.items()}
    return jsonable_encoder(row)


def csv_chunks(rows: Iterable[Any], columns: Sequence[str] = (),
               chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """The CSV text of `rows`, in chunks of about `chunk_chars`, reading a row only when the
    chunk before has been taken. `columns` is the header when there is no row."""
    buffer = io.StringIO()
    writer: csv.DictWriter | None = None
    for row in rows:
        values = encoded(row)
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(values), restval="",
                                    extrasaction="ignore")
            writer.writeheader()
        writer.writerow({k: cell(v) for k, v in values.items()})
        if buffer.tell() >= chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if writer is None and columns:
        csv.writer(buffer).writerow(columns)
    if buffer.tell():
        yield buffer.getvalue()


def csv_rows_answer(rows: Iterable[Any], position: int, columns: Sequence[str] = ()
                    ) -> StreamingResponse:
    """Rows as a streamed CSV answer with X-CSM-Position; the first row is read now."""
    remaining = iter(rows)
    first = next(remaining, _END)
    ahead = [] if first is _END else [first]

    def all_rows() -> Iterator[Any]:
        yield from ahead
        yield from remaining
    return StreamingResponse(csv_chunks(all_rows(), columns), media_type=MEDIA_TYPE,
                             headers={"X-CSM-Position": str(position)})


def csv_answer(body: Any, position: int, columns: Sequence[str] = ()) -> StreamingResponse:
    """A query's JSON body as a streamed CSV answer of its rows."""
    return csv_rows_answer(rows_of(body), position, columns)
