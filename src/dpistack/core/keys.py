"""The platform key store: signing keys created on first start, kept as 0600 PEM files.

Two kinds of key live here:

* ``jwt`` keys (one Ed25519, one P-256, one RSA-2048) sign access tokens, ID tokens and signed
  responses. RSA is there because OpenID Connect requires RS256 for ID tokens by default.
  ``rotate()`` makes new ones active and keeps the old public keys published in the JWKS so
  that what they signed can still be verified.
* the ``log`` key (Ed25519) signs transparency-log checkpoints. Auditors pin it, so key
  rotation leaves it alone.

Symmetric secrets (field encryption, blind indexes, pseudonyms) are derived per purpose from
one random master secret, also a 0600 file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

JWT_ALGS = {"ES256": "P-256", "EdDSA": "Ed25519", "RS256": "RSA-2048"}


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    alg: str  # ES256 | EdDSA
    purpose: str  # jwt | log
    status: str  # active | retired
    created: str


def _write_private(path: Path, data: bytes) -> None:
    # Create with 0600 from the start: never a moment where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class KeyStore:
    """Key files under ``<data_dir>/keys``; safe to open from several processes."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._lock = threading.Lock()
        self._cache: dict[str, OKPKey | ECKey | RSAKey] = {}
        self._index_cache: tuple | None = None  # (file stamp, index, keyset or None)

    # -- set-up -----------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the key directory, master secret and one active key of each kind if missing."""
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
            if not (self.dir / "master.secret").exists():
                _write_private(self.dir / "master.secret", secrets.token_bytes(32))
            index = self._read_index()
            wanted = [("ES256", "jwt"), ("EdDSA", "jwt"), ("RS256", "jwt"), ("EdDSA", "log")]
            for alg, purpose in wanted:
                if not any(k.alg == alg and k.purpose == purpose and k.status == "active" for k in index):
                    index.append(self._generate(alg, purpose))
            self._write_index(index)

    def rotate(self) -> list[KeyInfo]:
        """New active ``jwt`` keys; the previous ones stay published as ``retired``."""
        with self._lock:
            index = self._read_index()
            fresh = []
            for info in list(index):
                if info.purpose == "jwt" and info.status == "active":
                    index[index.index(info)] = KeyInfo(info.kid, info.alg, info.purpose, "retired", info.created)
                    fresh.append(self._generate(info.alg, "jwt"))
            index.extend(fresh)
            self._write_index(index)
            return fresh

    # -- reading ----------------------------------------------------------------------------
    def keys(self) -> list[KeyInfo]:
        return self._read_index()

    def active(self, alg: str = "ES256", purpose: str = "jwt") -> tuple[KeyInfo, OKPKey | ECKey]:
        for info in reversed(self._read_index()):
            if info.alg == alg and info.purpose == purpose and info.status == "active":
                return info, self._load(info)
        raise LookupError(f"no active {purpose} key for {alg}; run `dpi init`")

    def jwks(self) -> dict:
        """Public JWKS: active and retired ``jwt`` keys (retired ones verify old signatures)."""
        out = []
        for info in self._read_index():
            if info.purpose != "jwt":
                continue
            jwk = self._load(info).as_dict(private=False)
            jwk.update({"kid": info.kid, "alg": info.alg, "use": "sig"})
            out.append(jwk)
        return {"keys": out}

    def log_private_key(self) -> ed25519.Ed25519PrivateKey:
        _, key = self.active("EdDSA", "log")
        return key.private_key  # type: ignore[return-value]

    def derived_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for one purpose (HKDF-like: HMAC of the master secret)."""
        master = (self.dir / "master.secret").read_bytes()
        return hmac.new(master, b"dpistack:" + purpose.encode(), hashlib.sha256).digest()

    # -- internals --------------------------------------------------------------------------
    def _generate(self, alg: str, purpose: str) -> KeyInfo:
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key = _import(alg, pem)
        kid = key.thumbprint()
        _write_private(self.dir / f"{kid}.pem", pem)
        return KeyInfo(kid, alg, purpose, "active", datetime.now(UTC).isoformat(timespec="seconds"))

    def _load(self, info: KeyInfo) -> OKPKey | ECKey:
        key = self._cache.get(info.kid)
        if key is None:
            key = _import(info.alg, (self.dir / f"{info.kid}.pem").read_bytes(), kid=info.kid)
            self._cache[info.kid] = key
        return key

    def _read_index(self) -> list[KeyInfo]:
        # Re-read only when the file changed (another process may rotate): a stat per call.
        path = self.dir / "keys.json"
        try:
            st = path.stat()
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._index_cache
        if cached is None or cached[0] != stamp:
            cached = self._index_cache = (stamp, [KeyInfo(**row) for row in json.loads(path.read_text())], None)
        return list(cached[1])

    def verification_keyset(self) -> KeySet:
        """Every ``jwt`` key (active and retired), built once per change of the index."""
        self._read_index()  # refreshes the cache if the file changed
        stamp, infos, keyset = self._index_cache
        if keyset is None:
            keyset = KeySet([self._load(i) for i in infos if i.purpose == "jwt"])
            self._index_cache = (stamp, infos, keyset)
        return keyset

    def _write_index(self, index: list[KeyInfo]) -> None:
        # Atomic replace so that a concurrent reader never sees half a file.
        tmp = self.dir / f"keys.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps([i.__dict__ for i in index], indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.dir / "keys.json")


def _import(alg: str, pem: bytes, kid: str | None = None) -> OKPKey | ECKey | RSAKey:
    params = {"kid": kid} if kid else None
    if alg == "ES256":
        return ECKey.import_key(pem, parameters=params)
    if alg == "RS256":
        return RSAKey.import_key(pem, parameters=params)
    return OKPKey.import_key(pem, parameters=params)
