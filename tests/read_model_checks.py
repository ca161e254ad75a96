"""Comparing read models: live tables against a fresh rebuild from the store, row for row."""
from __future__ import annotations

from typing import Any

from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL


def compare_with_rebuild(rt: Any) -> tuple[list[str], dict[str, int], int]:
    """Rebuilds every projection from the store into `csm_check` and compares every table
    of `csm_read` with it, row for row both ways, and the projection positions/states."""
    with rt.pool.connection() as conn:
        conn.execute("DROP SCHEMA IF EXISTS csm_check CASCADE")
    at = rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="csm_check")
    problems, counts = differences(rt.pool, "csm_read", "csm_check")
    return problems, counts, at


def differences(pool: Any, live: str, check: str) -> tuple[list[str], dict[str, int]]:
    """Tables of `live` that differ from `check` (rows either way, counts), and row counts."""
    problems, counts = [], {}
    with pool.connection() as conn:
        for p in ALL.values():
            for t in p.tables:
                a, b = f'"{live}"."{t.name}"', f'"{check}"."{t.name}"'
                n_live = conn.execute(f"SELECT count(*) AS n FROM {a}").fetchone()["n"]
                n_check = conn.execute(f"SELECT count(*) AS n FROM {b}").fetchone()["n"]
                extra = conn.execute(f"SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b} LIMIT 3"
                                     ).fetchall()
                missing = conn.execute(f"SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a} LIMIT 3"
                                       ).fetchall()
                counts[t.name] = n_live
                if extra or missing or n_live != n_check:
                    problems.append(f"{t.name}: {n_live} rows live, {n_check} rebuilt; "
                                    f"only live {extra}; only rebuilt {missing}")
        status = {schema: {r["name"]: (r["position"], r["state"]) for r in conn.execute(
            f'SELECT name, position, state FROM "{schema}".projection_status').fetchall()}
            for schema in (live, check)}
    for name in ALL:
        if status[live].get(name) != status[check].get(name):
            problems.append(f"projection_status {name}: live {status[live].get(name)}, "
                            f"rebuilt {status[check].get(name)}")
    return problems, counts
