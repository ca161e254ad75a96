"""Keys: cipher, chain seal, checkpoint signing and API keys — from the environment, or
generated once into the data dir for the embedded default. With DATABASE_URL set, every
key must come from the environment: a store elsewhere must not depend on a local file."""
from __future__ import annotations

import base64
import binascii
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.cryptography import AESCipher

from csm.infra.checkpoints import Signer
from csm.infra.settings import Settings

MAKE_KEY = ("`python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\"`")


def _key(settings: Settings, value: str | None, name: str, meaning: str, file: str,
         check: Callable[[bytes], str | None]) -> bytes:
    """The decoded key: configured, or (embedded only) generated once into the data dir."""
    if not value and settings.database_url:
        raise SystemExit(f"{name} is required when DATABASE_URL is set ({meaning}, "
                         f"e.g. {MAKE_KEY})")
    if not value:
        value = _stored(settings.csm_data_dir / file,
                        lambda: base64.b64encode(os.urandom(32)).decode())
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise SystemExit(f"{name} is not valid base64 ({meaning})") from None
    problem = check(raw)
    if problem:
        raise SystemExit(f"{name}: {problem} ({meaning}, e.g. {MAKE_KEY})")
    return raw


def cipher_key(settings: Settings) -> str:
    raw = _key(settings, settings.csm_cipher_key, "CSM_CIPHER_KEY",
               "a base64 AES-256 key", "cipher.key",
               lambda k: None if len(k) in (16, 24, 32) else f"an AES key has 16, 24 or 32 "
                                                             f"bytes, not {len(k)}")
    AESCipher.check_key_size(len(raw))
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class AuditKeys:
    chain_key: bytes  # seals each event: HMAC-SHA256 over its chain hash
    signer: Signer  # signs checkpoints (Ed25519)


def signer(settings: Settings) -> Signer:
    seed = _key(settings, settings.csm_signing_key, "CSM_SIGNING_KEY",
                "the base64 of a 32-byte Ed25519 private key that signs checkpoints",
                "signing.key",
                lambda k: None if len(k) == 32 else f"an Ed25519 private key has 32 bytes, "
                                                    f"not {len(k)}")
    return Signer(Ed25519PrivateKey.from_private_bytes(seed))


def audit_keys(settings: Settings) -> AuditKeys:
    chain = _key(settings, settings.csm_chain_key, "CSM_CHAIN_KEY",
                 "a base64 key of at least 32 bytes that seals every event", "chain.key",
                 lambda k: None if len(k) >= 32 else f"{len(k)} bytes are too few; use 32")
    return AuditKeys(chain, signer(settings))


def api_keys(settings: Settings) -> dict[str, str]:
    """key → role; with none configured, one admin key made on first start and printed once."""
    if settings.api_keys():
        return settings.api_keys()
    path = settings.csm_data_dir / "admin.key"
    fresh = not path.exists()
    key = _stored(path, lambda: "csm_" + secrets.token_urlsafe(24))
    if fresh:
        print(f"csm: generated admin API key (stored in {path}): {key}", file=sys.stderr)
    else:
        print(f"csm: using the admin API key kept in {path.resolve()}", file=sys.stderr)
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
