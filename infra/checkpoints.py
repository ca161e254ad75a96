"""Signed checkpoints: csm's Ed25519 signature over (position, chain hash, time).

A checkpoint says "csm verified the event log up to `position`, whose chain hash is
`hash`, at `at`". Anyone holding csm's public key can check the signature and then
that today's log still has that hash at that position; nobody without
`CSM_SIGNING_KEY` can make one. The signed bytes are the UTF-8 text
`csm-checkpoint/1 <kind> <position> <hash as hex> <at>`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# periodic: made by the checkpointer; upgrade: covers the events of a store written before
# events were sealed (every position up to it), made once when this release first starts.
KINDS = ("periodic", "upgrade")


def signed_bytes(kind: str, position: int, chain_hash: bytes, at: str) -> bytes:
    return f"csm-checkpoint/1 {kind} {position} {chain_hash.hex()} {at}".encode()


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: bytes
    at: str
    kind: str
    key_id: str
    signature: bytes

    def signed_by(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(self.signature, signed_bytes(self.kind, self.position, self.hash,
                                                       self.at))
        except InvalidSignature:
            return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "hash": self.hash.hex(), "at": self.at,
                "kind": self.kind, "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_dict(cls, d: Any) -> Checkpoint:
        """A checkpoint as GET /v1/audit/checkpoints serves it; ValueError if it is not one."""
        try:
            cp = cls(int(d["position"]), bytes.fromhex(d["hash"]), str(d["at"]),
                     str(d.get("kind", "periodic")), str(d["key_id"]),
                     base64.b64decode(d["signature"], validate=True))
        except (KeyError, TypeError, ValueError, binascii.Error) as e:
            raise ValueError(f"not a checkpoint ({type(e).__name__}: {e}); expected "
                             "{position, hash, at, kind, key_id, signature}") from None
        if cp.kind not in KINDS or cp.position < 1:
            raise ValueError(f"not a checkpoint: kind {cp.kind!r}, position {cp.position}")
        return cp


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64."""
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)).decode()


def public_key_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as PEM or as the base64 of its 32 raw bytes; ValueError otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("a public key is PEM or the base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


class Signer:
    """Signs checkpoints with the private key of CSM_SIGNING_KEY."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, kind: str, position: int, chain_hash: bytes, at: datetime | None = None
             ) -> Checkpoint:
        stamp = (at or datetime.now(UTC)).isoformat(timespec="microseconds")
        signature = self._private.sign(signed_bytes(kind, position, chain_hash, stamp))
        return Checkpoint(position, chain_hash, stamp, kind, self.key_id, signature)


COLUMNS = "position, hash, at, kind, key_id, signature"


def save(conn: Any, cp: Checkpoint) -> bool:
    """Stores a checkpoint; False if one at that position exists already."""
    row = conn.execute(f"INSERT INTO csm_checkpoints ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                       f"ON CONFLICT (position) DO NOTHING RETURNING position",
                       (cp.position, cp.hash, cp.at, cp.kind, cp.key_id, cp.signature)).fetchone()
    return row is not None


def of_row(r: Any) -> Checkpoint:
    return Checkpoint(r["position"], bytes(r["hash"]), r["at"], r["kind"], r["key_id"],
                      bytes(r["signature"]))


def stored(conn: Any, after: int = 0, limit: int | None = None) -> list[Checkpoint]:
    """Stored checkpoints in position order, after a position."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM csm_checkpoints WHERE position > %s "
                        f"ORDER BY position LIMIT %s", (after, limit)).fetchall()
    return [of_row(r) for r in rows]


def latest(conn: Any) -> Checkpoint | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM csm_checkpoints ORDER BY position DESC LIMIT 1"
                       ).fetchone()
    return of_row(row) if row else None
