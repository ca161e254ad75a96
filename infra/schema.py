"""Tables beside the library's event table: hash chain, seals, checkpoints, recorded time,
idempotency, keys, snapshots."""
from __future__ import annotations

from psycopg import Connection

from csm.projections.pg_names import EVENT_SCHEMA_LOCK, EVENTS


# Every stored event gets the time it was recorded and a SHA-256 over its own
# content and the hash of the event before it (in position order). Writers
# are serialised by the head row's lock, so the chain follows commit order.
CHAIN_DDL = f"""
ALTER TABLE {EVENTS} ADD COLUMN IF NOT EXISTS recorded_at timestamptz;
ALTER TABLE {EVENTS} ADD COLUMN IF NOT EXISTS hash bytea;
CREATE INDEX IF NOT EXISTS {EVENTS}_recorded_at_idx ON {EVENTS} USING brin (recorded_at);
-- A stream's state as of a time: one probe for the last version recorded by then.
CREATE INDEX IF NOT EXISTS {EVENTS}_stream_recorded_idx ON {EVENTS} (originator_id, recorded_at);
CREATE TABLE IF NOT EXISTS csm_chain_head (
    id int PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO csm_chain_head VALUES (1, 0, ''::bytea) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION csm_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev bytea;
    prev_hex text := current_setting('csm.chain_hash', true);
BEGIN
    IF prev_hex IS NULL OR prev_hex = '' THEN
        SELECT hash INTO prev FROM csm_chain_head WHERE id = 1 FOR UPDATE;
    ELSE
        prev := decode(prev_hex, 'hex');
    END IF;
    NEW.recorded_at := clock_timestamp();
    NEW.hash := sha256(
        prev
        || int8send(NEW.notification_id)
        || int8send(NEW.originator_version)
        || int4send(octet_length(NEW.originator_id::text))
        || convert_to(NEW.originator_id::text, 'UTF8')
        || int4send(octet_length(NEW.topic))
        || convert_to(NEW.topic, 'UTF8')
        || int8send((extract(epoch FROM NEW.recorded_at) * 1000000)::bigint)
        || NEW.state);
    PERFORM set_config('csm.chain_hash', encode(NEW.hash, 'hex'), true);
    PERFORM set_config('csm.chain_position', NEW.notification_id::text, true);
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION csm_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE csm_chain_head
       SET hash = decode(current_setting('csm.chain_hash'), 'hex'),
           position = current_setting('csm.chain_position')::bigint
     WHERE id = 1;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS csm_chain_event ON {EVENTS};
CREATE TRIGGER csm_chain_event BEFORE INSERT ON {EVENTS}
    FOR EACH ROW EXECUTE FUNCTION csm_chain_event();
DROP TRIGGER IF EXISTS csm_chain_advance ON {EVENTS};
CREATE TRIGGER csm_chain_advance AFTER INSERT ON {EVENTS}
    FOR EACH STATEMENT EXECUTE FUNCTION csm_chain_advance();
"""

# The seal of each event, written by csm in the recording transaction (infra/chain.py):
# HMAC-SHA256 under CSM_CHAIN_KEY, which never enters the database, over its chain hash,
# the position of the event recorded before it and how many sealed events there are up to
# it. Checkpoints are signed by csm (infra/checkpoints.py); `at` is the text that was signed.
AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS csm_event_seals (
    position bigint PRIMARY KEY,
    prev_position bigint NOT NULL,
    ordinal bigint NOT NULL,
    seal bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS csm_checkpoints (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL,
    at text NOT NULL,
    kind text NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL,
    published_at timestamptz
);
CREATE TABLE IF NOT EXISTS csm_snapshots (
    snapshot_id text PRIMARY KEY,
    as_of timestamptz NOT NULL,
    schema_name text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'pending',
    position bigint NOT NULL,
    applied bigint NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
"""

SUPPORT_DDL = """
CREATE TABLE IF NOT EXISTS csm_idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    answer jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS csm_relay_progress (
    topic text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One row per bad inbound message put on the DLQ (consumers/dead_letters.py).
CREATE TABLE IF NOT EXISTS csm_dead_letters (
    digest text PRIMARY KEY,
    message_id text,
    error text NOT NULL,
    original_topic text NOT NULL,
    original_partition int NOT NULL,
    original_offset bigint NOT NULL,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    times int NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS csm_personal_keys (
    subject text PRIMARY KEY,
    wrapped_key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz
);
"""


def ensure_schema(conn: Connection) -> None:
    """Idempotent; run after the library has created its event table."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_SCHEMA_LOCK,))
        conn.execute(SUPPORT_DDL)
        conn.execute(CHAIN_DDL)
        conn.execute(AUDIT_DDL)
