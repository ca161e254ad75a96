"""The cipher key and API keys: from the environment, or generated once into the data dir."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from csm.infra.settings import Settings


def cipher_key(settings: Settings) -> str:
    if settings.csm_cipher_key:
        AESCipher.check_key_size(len(__import__("base64").b64decode(settings.csm_cipher_key)))
        return settings.csm_cipher_key
    if settings.database_url:
        raise SystemExit("CSM_CIPHER_KEY is required when DATABASE_URL is set "
                         "(a base64 AES-256 key, e.g. `python -c \"import os,base64;"
                         "print(base64.b64encode(os.urandom(32)).decode())\"`)")
    return _stored(settings.csm_data_dir / "cipher.key", lambda: AESCipher.create_key(32))


def api_keys(settings: Settings) -> dict[str, str]:
    """key → role; with none configured, one admin key made on first start and printed once."""
    if settings.api_keys():
        return settings.api_keys()
    path = settings.csm_data_dir / "admin.key"
    fresh = not path.exists()
    key = _stored(path, lambda: "csm_" + secrets.token_urlsafe(24))
    if fresh:
        print(f"csm: generated admin API key (stored in {path}): {key}", file=sys.stderr)
    return {key: "admin"}


def _stored(path: Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
