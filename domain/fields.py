"""The field types of every command, over HTTP and on `csm.inbound` alike, and the
timestamps and dates that queries take.

Each admits only what PostgreSQL and every projection can store: text without
U+0000 (PostgreSQL text cannot hold it) and without surrogate code points (they
have no UTF-8 form); timestamps written as RFC 3339 strings with an offset
within ±14:00 (PostgreSQL refuses wider ones) and lying in the years 1900–9999
in UTC (the projections compute in Python, which has no dates outside the years
1–9999, and no customer's feedback is older than 1900).
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
)

from csm.domain.values import ID_PATTERN, SLUG_PATTERN

# RFC 3339 §5.6 full-date and date-time, as JSON Schema's `date` and `date-time` formats read
# them; [0-9] because \d would also take other scripts' digits.
FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RFC_3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
MAX_OFFSET = timedelta(hours=14)
MAX_SAFE_INTEGER = 2**53 - 1
FIRST_YEAR, LAST_YEAR = 1900, 9999
# The part of the text rule a JSON schema can state, so that the OpenAPI shows it too.
NO_NUL = r"^[^\x00]*$"
TEXT_RULE = Field(description="text without U+0000 and without unpaired surrogates")
TIMESTAMP_RULE = Field(description="RFC 3339 with an offset within ±14:00, in the years "
                       "1900–9999 in UTC")


def whole_number(value: Any) -> Any:
    # JSON Schema's `integer`, which the OpenAPI publishes, is any number without a
    # fraction: 2.0 is the integer 2. A string, a boolean or 2.5 is still refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
    # pydantic alone reads a number, or a string such as "0.5", as seconds since 1970, and
    # takes other spellings too; the contract speaks RFC 3339 only.
    if isinstance(value, datetime) or isinstance(value, str) and RFC_3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, as a string "
                     "(2026-01-31T09:30:00+08:00)")


def date_text(value: Any) -> Any:
    # As for timestamps: "0" would otherwise be the first day of 1970.
    if isinstance(value, date) or isinstance(value, str) and FULL_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


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


# Last in an Annotated int, after its bounds: pydantic checks bounds that follow a validator
# against the raw input, and publishes them as `ge`/`le` instead of minimum/maximum.
WHOLE_NUMBER = BeforeValidator(whole_number)
# The integers a JSON reader holds exactly, in an IEEE 754 double, and far inside 64 bits.
SafeInteger = Annotated[int, Strict(), Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER),
                        WHOLE_NUMBER]
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
LocalDate = Annotated[date, BeforeValidator(date_text)]
