"""`csm report`: the monthly report written to a file, as HTML or PDF, from the read models
of the configured store (read through the query API in-process, as the dashboard does)."""
from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from csm.api.app import create_app
from csm.api.dashboard import report
from csm.api.dashboard.figures import Scope
from csm.infra.runtime import Runtime
from csm.projections.pg_names import READ_SCHEMA
from csm.projections.registry import select
from csm.projections.status import load_status
from csm.projections.store import head_position

READERS = ("admin", "manager", "auditor")


def write_report(runtime: Runtime, scope: Scope, fmt: str, output: str | None) -> Path:
    """Writes the report of `scope` and returns where; says on stderr when the read models
    have not yet applied every stored event."""
    path = Path(output or f"csm-report-{scope.label}"
                f"{'-' + scope.department_id if scope.department_id else ''}.{fmt}")
    key = next((k for k, role in runtime.api_keys.items() if role in READERS), None)
    if key is None:
        raise SystemExit(f"csm report: no API key of role {', '.join(READERS)} is configured")
    _say_if_behind(runtime)
    with tqdm(total=2, unit=" steps", file=sys.stderr, desc=f"report {scope.label}") as bar:
        bar.set_postfix_str("reading the figures")
        document = asyncio.run(report.render(create_app(runtime), key, scope, datetime.now(UTC)))
        bar.update(1)
        bar.set_postfix_str("printing the PDF" if fmt == "pdf" else "writing")
        path.write_bytes(report.pdf(document) if fmt == "pdf" else document.encode())
        bar.update(1)
    return path


def _say_if_behind(runtime: Runtime) -> None:
    head = head_position(runtime.pool)
    names = [p.name for p in select(None)]
    behind = {name: s.position for name, s in load_status(runtime.pool, READ_SCHEMA, names).items()
              if s.position < head}
    if behind:
        tqdm.write(f"csm report: read models behind the store's head ({head}): {behind}; "
                   "run `csm serve` or `csm project` to bring them up to date", file=sys.stderr)
