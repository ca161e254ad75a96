"""Verifying as an outsider: a checkpoint saved earlier, csm's public key, and read access to
the store — no key of csm's (`csm verify --checkpoint FILE --public-key KEY`)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg_pool import ConnectionPool

from csm.infra.checkpoints import Checkpoint, load_public_key
from csm.infra.database import EmbeddedPostgres, open_pool
from csm.infra.settings import Settings


def read_checkpoints(path: str) -> list[Checkpoint]:
    """One checkpoint, a list of them, or GET /v1/audit/checkpoints' answer, as JSON."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    items = found.get("items", [found]) if isinstance(found, dict) else found
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: holds no checkpoint")
    return [Checkpoint.from_dict(i) for i in items]


def read_public_key(settings: Settings, given: str | None) -> Ed25519PublicKey:
    """The key given (its text, a file holding it, or GET /v1/audit/public-key's answer);
    without one, the public half of this installation's CSM_SIGNING_KEY."""
    if given is None:
        from csm.infra.secrets import signer
        try:
            return signer(settings).public
        except SystemExit as e:
            raise ValueError(f"{e}; or pass --public-key") from None
    text = Path(given).read_text() if Path(given).is_file() else given
    if text.lstrip().startswith("{"):
        text = json.loads(text).get("public_key", "")
    return load_public_key(text)


@contextmanager
def store_pool(settings: Settings) -> Iterator[ConnectionPool]:
    """Connections to the event store: DATABASE_URL, or the embedded server of the data dir."""
    embedded = None if settings.database_url else EmbeddedPostgres(settings.csm_data_dir)
    pool = open_pool(settings.database_url or embedded.url, min_size=1, max_size=2)
    try:
        pool.wait(timeout=30)
        yield pool
    finally:
        pool.close()
        if embedded is not None:
            embedded.stop()
