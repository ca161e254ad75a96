"""A read-only PostgreSQL role for BI tools: the read models, not the events or keys."""
from __future__ import annotations

import re

from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import ConnectionPool

from csm.projections.pg_names import READ_SCHEMA
from csm.projections.status import STATUS_DDL

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_bi_role(pool: ConnectionPool, role: str, password: str | None = None) -> None:
    if not ROLE_NAME.match(role):
        raise SystemExit(f"role name {role!r} must match {ROLE_NAME.pattern}")
    r = Identifier(role)
    with pool.connection() as conn, conn.transaction():
        conn.execute(STATUS_DDL.format(schema=READ_SCHEMA))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        login = SQL("LOGIN PASSWORD {}").format(Literal(password)) if password else SQL("NOLOGIN")
        verb = SQL("ALTER ROLE") if exists else SQL("CREATE ROLE")
        conn.execute(SQL("{} {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(verb, r, login))
        db = Identifier(conn.info.dbname)
        conn.execute(SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, r))
        conn.execute(SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, r))
        conn.execute(SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(r))
        conn.execute(SQL("REVOKE ALL ON SCHEMA public FROM {}").format(r))
        conn.execute(SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC"))
        conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(Identifier(READ_SCHEMA), r))
        conn.execute(SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            Identifier(READ_SCHEMA), r))
        # Rebuilt tables are created afresh and moved in: the rebuild grants them again to
        # every role recorded here.
        conn.execute("CREATE TABLE IF NOT EXISTS csm_bi_roles (role text PRIMARY KEY)")
        conn.execute("INSERT INTO csm_bi_roles VALUES (%s) ON CONFLICT DO NOTHING", (role,))
