"""dockyard's own token signing keys: made on first start, kept in a directory, rotated.

Layout (``<root>/dockyard/token-keys/`` by default, mode 0700)::

    token-keys/
      .lock                                  flock'd while the first key is made
      00001767225600123456789-3f9a1c.pem     PKCS#8 private key, mode 0600
      00001769904000987654321-b20e44.pem     a newer key: this one signs

File names start with the creation time in nanoseconds, so the last one in sorted order is the
newest. The newest key signs; every key in the directory verifies. :func:`rotate` adds a newer
key (old tokens keep verifying); :func:`retire` deletes one (its tokens stop verifying at
once). Running servers notice either within a couple of seconds. With no directory (the
``inmemory`` storage driver) the ring lives in memory only.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dockyard.auth.token_jwk import (
    PrivateKey,
    PublicKey,
    algorithms_for,
    libtrust_key_id,
    public_jwk,
    signing_algorithm,
)

SUFFIX = ".pem"
RECHECK_SECONDS = 2.0  # how often a server looks for added or removed key files
MISS_RELOAD_SECONDS = 1.0  # an unknown kid re-reads the directory at most this often
SUPPORTED = ("ES256", "RS256")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: PrivateKey
    algorithm: str
    name: str  # file name (or a memory label): sorts by age

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported token signing algorithm {algorithm!r} (use ES256 or RS256)")


def _as_signing_key(name: str, key: object) -> SigningKey | None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return None
    if not algorithms_for(key.public_key()):
        return None
    return SigningKey(libtrust_key_id(key.public_key()), key, signing_algorithm(key), name)


def _new_name() -> str:
    return f"{time.time_ns():023d}-{secrets.token_hex(3)}{SUFFIX}"


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_key(directory: Path, key: PrivateKey) -> str:
    """Publish a key file atomically (temporary file, fsync, rename, fsync directory)."""
    name = _new_name()
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _pem(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, directory / name)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return name


def _read_keys(directory: Path) -> list[SigningKey]:
    keys = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            continue
        key = _as_signing_key(path.name, loaded)
        if key is not None:
            keys.append(key)
    return keys


class KeyRing:
    """The signing keys; thread-safe, re-reads its directory when files come or go."""

    def __init__(self, directory: str | None, algorithm: str = "ES256") -> None:
        if algorithm not in SUPPORTED:
            raise ValueError(f"unsupported token signing algorithm {algorithm!r}")
        self.directory = Path(directory) if directory else None
        self.algorithm = algorithm
        self._keys: list[SigningKey] = []
        self._stamp: int | None = None
        self._checked = 0.0
        self._missed = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Load the keys, making the first one if there is none (safe across processes)."""
        if self.directory is None:
            if not self._keys:
                self._keys = [self._memory_key()]
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _read_keys(self.directory):
                _write_key(self.directory, generate_private_key(self.algorithm))
        self._reload()

    def _memory_key(self) -> SigningKey:
        key = _as_signing_key(_new_name(), generate_private_key(self.algorithm))
        assert key is not None
        return key

    def _reload(self) -> None:
        assert self.directory is not None
        with self._lock:
            self._stamp = os.stat(self.directory).st_mtime_ns
            keys = _read_keys(self.directory)
            if [k.name for k in keys] != [k.name for k in self._keys]:
                self._generation += 1
            self._keys = keys
            self._checked = time.monotonic()

    def generation(self) -> int:
        """A number that changes whenever keys are added or removed."""
        self._refresh()
        return self._generation

    def _refresh(self, *, force: bool = False) -> None:
        if self.directory is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            stamp = os.stat(self.directory).st_mtime_ns
        except OSError:
            return
        if force or stamp != self._stamp:
            self._reload()

    def signer(self) -> SigningKey:
        """The newest key."""
        self._refresh()
        if not self._keys:
            self.ensure()
        return self._keys[-1]

    def keys(self) -> list[SigningKey]:
        """Every key, oldest first."""
        self._refresh()
        return list(self._keys)

    def public_key(self, kid: str) -> SigningKey | None:
        """The key with this id; an unknown id re-reads the directory (rate limited)."""
        self._refresh()
        found = next((k for k in self._keys if k.kid == kid), None)
        now = time.monotonic()
        if found is None and now - self._missed >= MISS_RELOAD_SECONDS:
            self._missed = now
            self._refresh(force=True)
            found = next((k for k in self._keys if k.kid == kid), None)
        return found

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (what ``/token/jwks.json`` serves)."""
        entries = []
        for key in self.keys():
            jwk = public_jwk(key.public_key)
            jwk.update(kid=key.kid, alg=key.algorithm, use="sig")
            entries.append(jwk)
        return {"keys": entries}

    def rotate(self) -> SigningKey:
        """Add a new key, which signs from now on; older keys keep verifying."""
        private_key = generate_private_key(self.algorithm)
        if self.directory is None:
            key = _as_signing_key(_new_name(), private_key)
            assert key is not None
            self._keys.append(key)
            self._generation += 1
            return key
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_key(self.directory, private_key)
        self._reload()
        return self._keys[-1]

    def retire(self, kid: str) -> bool:
        """Remove a key: tokens it signed stop verifying. The last key is never removed."""
        self._refresh(force=True)
        victims = [k for k in self._keys if k.kid == kid]
        if not victims or len(self._keys) == len(victims):
            return False
        if self.directory is None:
            self._keys = [k for k in self._keys if k.kid != kid]
            self._generation += 1
            return True
        for key in victims:
            (self.directory / key.name).unlink(missing_ok=True)
        self._reload()
        return True
