"""Key ids, JWKs and the on-disk key ring: first start, rotation, retirement."""

from __future__ import annotations

import base64
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard.auth import token_keys
from dockyard.auth.token_jwk import (
    algorithms_for,
    jwk_thumbprint,
    key_from_jwk,
    libtrust_key_id,
    public_jwk,
)
from dockyard.auth.token_keys import KeyRing


def _b64(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_libtrust_key_id_matches_the_spec_example() -> None:
    # distribution docs/spec/auth/jwt.md: this key's id is PYYO:TEWU:...
    numbers = ec.EllipticCurvePublicNumbers(
        _b64("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"),
        _b64("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc"),
        ec.SECP256R1(),
    )
    key = numbers.public_key()
    assert libtrust_key_id(key) == "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"


def test_jwk_thumbprint_is_stable_per_key_and_differs_between_keys() -> None:
    one, two = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    assert jwk_thumbprint(one.public_key()) == jwk_thumbprint(one.public_key())
    assert jwk_thumbprint(one.public_key()) != jwk_thumbprint(two.public_key())
    assert len(jwk_thumbprint(one.public_key())) == 43


def test_algorithms_fit_the_key() -> None:
    assert algorithms_for(ec.generate_private_key(ec.SECP256R1()).public_key()) == {"ES256"}
    assert algorithms_for(ec.generate_private_key(ec.SECP384R1()).public_key()) == {"ES384"}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert "RS256" in algorithms_for(rsa_key) and "HS256" not in algorithms_for(rsa_key)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    assert algorithms_for(small.public_key()) == frozenset()
    assert algorithms_for(ed25519.Ed25519PrivateKey.generate().public_key()) == {"EdDSA"}


def test_jwk_round_trip_and_symmetric_keys_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = public_jwk(key)
    assert "d" not in jwk
    assert key_from_jwk(jwk) == key
    assert key_from_jwk({"kty": "oct", "k": "c2VjcmV0"}) is None
    assert key_from_jwk({"kty": "EC", "crv": "P-256", "x": "bad"}) is None
    assert key_from_jwk("not a dict") is None


def test_first_start_makes_one_private_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = KeyRing(str(directory))
    ring.ensure()
    files = list(directory.glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    signer = ring.signer()
    assert signer.algorithm == "ES256"
    assert signer.kid == libtrust_key_id(signer.public_key)
    again = KeyRing(str(directory))
    again.ensure()
    assert len(list(directory.glob("*.pem"))) == 1
    assert again.signer().kid == signer.kid


def test_rsa_keys_on_request(tmp_path: Path) -> None:
    ring = KeyRing(str(tmp_path), "RS256")
    ring.ensure()
    assert ring.signer().algorithm == "RS256"
    with pytest.raises(ValueError, match="unsupported"):
        KeyRing(str(tmp_path), "HS256")


def test_rotation_adds_a_signer_and_keeps_old_keys(tmp_path: Path) -> None:
    ring = KeyRing(str(tmp_path))
    ring.ensure()
    old = ring.signer()
    generation = ring.generation()
    new = ring.rotate()
    assert ring.signer().kid == new.kid != old.kid
    assert ring.public_key(old.kid) is not None
    assert [k["kid"] for k in ring.jwks()["keys"]] == [old.kid, new.kid]
    assert ring.generation() != generation


def test_retire_removes_a_key_but_never_the_last(tmp_path: Path) -> None:
    ring = KeyRing(str(tmp_path))
    ring.ensure()
    old = ring.signer()
    new = ring.rotate()
    assert ring.retire(old.kid)
    assert ring.public_key(old.kid) is None
    assert not ring.retire(new.kid)
    assert not ring.retire("NOPE")
    assert len(list(tmp_path.glob("*.pem"))) == 1


def test_other_processes_see_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_keys, "RECHECK_SECONDS", 0.0)
    server = KeyRing(str(tmp_path))
    server.ensure()
    admin = KeyRing(str(tmp_path))
    admin.ensure()
    new = admin.rotate()
    assert server.signer().kid == new.kid


def test_unknown_kid_rereads_the_directory(tmp_path: Path) -> None:
    server = KeyRing(str(tmp_path))
    server.ensure()
    new = KeyRing(str(tmp_path)).rotate()
    assert server.public_key(new.kid) is not None  # within the recheck window: re-read on miss


def test_memory_ring_without_directory() -> None:
    ring = KeyRing(None)
    ring.ensure()
    first = ring.signer()
    second = ring.rotate()
    assert ring.signer() is second
    assert ring.retire(first.kid)
    assert ring.public_key(first.kid) is None


def _ensure(directory: str) -> None:
    KeyRing(directory).ensure()


def test_concurrent_first_start_makes_exactly_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_ensure, args=(str(tmp_path),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert len(list(tmp_path.glob("*.pem"))) == 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_unreadable_key_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000000001-aaaaaa.pem").write_text("garbage")
    ring = KeyRing(str(tmp_path))
    ring.ensure()
    assert len(ring.keys()) == 1
