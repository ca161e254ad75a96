"""Read-model tables: declared once, created in any schema, written in bulk.

Three kinds, by how an event changes them:
- `counter`: additive facts; changes are increments merged in memory and added
  to the stored row (`ON CONFLICT … SET n = n + excluded.n`). Key columns may
  be NULL (a unique index with NULLS NOT DISTINCT).
- `row`: one row per record, read and rewritten whole.
- `append`: lines written once (`ON CONFLICT DO NOTHING`), e.g. the ledger.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import Cursor
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    kind: Literal["counter", "row", "append"]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def measures(self) -> list[str]:
        return [c for c in self.names if c not in self.key]

    def ddl(self, schema: str, indexes: bool = True) -> list[str]:
        """The table and its key; with `indexes`, its other indexes too (see `index_ddl`)."""
        cols = ", ".join(f'"{c}" {t}' for c, t in self.columns)
        keys = ", ".join(f'"{k}"' for k in self.key)
        out = [f'CREATE TABLE IF NOT EXISTS "{schema}"."{self.name}" ({cols})']
        if self.kind == "counter":
            out.append(f'CREATE UNIQUE INDEX IF NOT EXISTS "{self.name}_key" ON '
                       f'"{schema}"."{self.name}" ({keys}) NULLS NOT DISTINCT')
        else:
            out.append(f'ALTER TABLE "{schema}"."{self.name}" ADD PRIMARY KEY ({keys})')
        return out + (self.index_ddl(schema) if indexes else [])

    def index_ddl(self, schema: str) -> list[str]:
        """The indexes for queries only: writing never needs them, so a build makes them last."""
        return [f'CREATE INDEX IF NOT EXISTS "{self.name}_i{i}" ON "{schema}"."{self.name}" '
                f'({", ".join(chr(34) + c + chr(34) for c in cols_)})'
                for i, cols_ in enumerate(self.indexes)]

    def flush(self, cur: Cursor, schema: str, rows: list[tuple[Any, ...]]) -> None:
        """Writes rows (tuples in column order) through a temporary table and one merge."""
        if not rows:
            return
        target = Identifier(schema, self.name)
        temp = Identifier(f"_in_{self.name}_{zlib.crc32(repr(self.columns).encode()):08x}")
        cols = SQL(", ").join(Identifier(c) for c in self.names)
        cur.execute(SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS")
                    .format(temp, target))
        with cur.copy(SQL("COPY {} ({}) FROM STDIN").format(temp, cols)) as copy:
            for row in rows:
                copy.write_row(row)
        keys = SQL(", ").join(Identifier(k) for k in self.key)
        if self.kind == "append" or not self.measures:
            action = SQL("DO NOTHING")
        elif self.kind == "counter":
            action = SQL("DO UPDATE SET ") + SQL(", ").join(
                SQL("{0} = {1}.{0} + excluded.{0}").format(Identifier(m), target)
                for m in self.measures)
        else:
            action = SQL("DO UPDATE SET ") + SQL(", ").join(
                SQL("{0} = excluded.{0}").format(Identifier(m)) for m in self.measures)
        # One round trip; the rows deleted are gone from the file at commit (ON COMMIT).
        cur.execute(SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
            target, cols, cols, temp, keys) + action + SQL("; DELETE FROM {}").format(temp))
