"""The field types of every command, over HTTP and on `csm.inbound` alike.

Each admits only what PostgreSQL and every projection can store: text without
U+0000 (PostgreSQL text cannot hold it) and without surrogate code points (they
have no UTF-8 form); timestamps written as RFC 3339 strings with an offset
within ±14:00 (PostgreSQL refuses wider ones) and lying in the years 1900–9999
in UTC (the projections compute in Python, which has no dates outside the years
1–9999, and no customer's feedback is older than 1900).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

from csm.domain.values import ID_PATTERN, SLUG_PATTERN

MAX_OFFSET = timedelta(hours=14)
FIRST_YEAR, LAST_YEAR = 1900, 9999
# The part of the text rule a JSON schema can state, so that the OpenAPI shows it too.
NO_NUL = r"^[^\x00]*$"
TEXT_RULE = Field(description="text without U+0000 and without unpaired surrogates")
TIMESTAMP_RULE = Field(description="RFC 3339 with an offset within ±14:00, in the years "
                       "1900–9999 in UTC")


def storable_text(value: Any) -> Any:
    # Checked before the string constraints, whose own refusal of a surrogate names nothing.
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        raise ValueError("must not contain U+0000 (NUL)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain an unpaired surrogate (U+D800–U+DFFF)") from None
    return value


def timestamp_text(value: Any) -> Any:
    # A bare number would be read as seconds since 1970; the contract speaks RFC 3339 only.
    if isinstance(value, (str, datetime)):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, as a string")


def storable_timestamp(value: datetime) -> datetime:
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_OFFSET:
        sign, size = ("-", -offset) if offset < timedelta(0) else ("+", offset)
        hours, rest = divmod(int(size.total_seconds()), 3600)
        minutes, seconds = divmod(rest, 60)
        shown = f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
        raise ValueError(f"offset {shown} lies outside ±14:00")
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # before year 1 or after 9999 once moved to UTC
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR}–{LAST_YEAR} in UTC")
    return value


Id = Annotated[str, StringConstraints(strict=True, pattern=ID_PATTERN),
               BeforeValidator(storable_text)]
Slug = Annotated[str, StringConstraints(strict=True, pattern=SLUG_PATTERN),
                 BeforeValidator(storable_text)]
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=20_000,
                                         pattern=NO_NUL),
                 BeforeValidator(storable_text), TEXT_RULE]
Short = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200,
                                          pattern=NO_NUL),
                  BeforeValidator(storable_text), TEXT_RULE]
Timestamp = Annotated[AwareDatetime, BeforeValidator(timestamp_text),
                      AfterValidator(storable_timestamp), TIMESTAMP_RULE]
