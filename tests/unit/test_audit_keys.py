"""The chain and signing keys (generated once for the embedded default, required with
DATABASE_URL), the seal's formula, and a checkpoint's JSON and signature."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from csm.infra.chain import CLAIMS, new_mac, seal
from csm.infra.checkpoints import Checkpoint, Signer, load_public_key, public_key_pem, public_key_text
from csm.infra.secrets import audit_keys
from csm.infra.settings import Settings

KEY = base64.b64encode(b"x" * 32).decode()


def test_the_embedded_default_generates_each_key_once_into_the_data_dir(tmp_path):
    first, again = audit_keys(Settings(csm_data_dir=tmp_path)), audit_keys(
        Settings(csm_data_dir=tmp_path))

    assert first.chain_key == again.chain_key and len(first.chain_key) == 32
    assert first.signer.key_id == again.signer.key_id
    for name in ("chain.key", "signing.key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600


@pytest.mark.parametrize("missing", ["csm_chain_key", "csm_signing_key"])
def test_with_database_url_a_missing_key_stops_the_start_naming_it(tmp_path, missing):
    given = {"csm_chain_key": KEY, "csm_signing_key": KEY, missing: None}
    settings = Settings(database_url="postgresql://db/csm", csm_data_dir=tmp_path, **given)

    with pytest.raises(SystemExit, match=f"{missing.upper()} is required when DATABASE_URL"):
        audit_keys(settings)
    assert not (tmp_path / "chain.key").exists() and not (tmp_path / "signing.key").exists()


@pytest.mark.parametrize("field, value, says", [
    ("csm_chain_key", base64.b64encode(b"short").decode(), "too few"),
    ("csm_signing_key", base64.b64encode(b"y" * 31).decode(), "32 bytes, not 31"),
    ("csm_chain_key", "not base64!", "not valid base64"),
])
def test_a_key_of_the_wrong_shape_is_refused(tmp_path, field, value, says):
    settings = Settings(csm_data_dir=tmp_path, **{"csm_chain_key": KEY, "csm_signing_key": KEY,
                                                  field: value})

    with pytest.raises(SystemExit, match=says):
        audit_keys(settings)


def test_a_seal_is_hmac_sha256_over_the_hash_the_previous_position_and_the_ordinal():
    key, chain_hash = os.urandom(32), hashlib.sha256(b"event").digest()
    message = chain_hash + (41).to_bytes(8, "big") + (7).to_bytes(8, "big")

    assert seal(key, chain_hash, 41, 7) == hmac.new(key, message, hashlib.sha256).digest()
    fast = new_mac(key)
    fast.update(chain_hash + CLAIMS.pack(41, 7))
    assert fast.digest() == seal(key, chain_hash, 41, 7)


def test_a_checkpoint_survives_its_json_and_checks_with_the_public_key_alone():
    signer = Signer(Ed25519PrivateKey.generate())
    cp = signer.sign("periodic", 1234, hashlib.sha256(b"head").digest())
    public = load_public_key(public_key_text(signer.public))

    saved = Checkpoint.from_dict(cp.as_dict())

    assert saved == cp and saved.signed_by(public)
    assert saved.signed_by(load_public_key(public_key_pem(signer.public)))
    moved = Checkpoint.from_dict({**cp.as_dict(), "position": 1235})
    assert not moved.signed_by(public)
    assert not cp.signed_by(Signer(Ed25519PrivateKey.generate()).public)


@pytest.mark.parametrize("broken", [{}, {"position": "x", "hash": "00", "at": "t", "key_id": "k",
                                         "signature": "AA=="},
                                    {"position": 1, "hash": "zz", "at": "t", "key_id": "k",
                                     "signature": "AA=="}])
def test_a_file_that_is_not_a_checkpoint_is_refused_with_a_reason(broken):
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_dict(broken)
