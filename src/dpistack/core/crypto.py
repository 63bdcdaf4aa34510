"""Personal data at rest: per-field AES-GCM encryption and keyed blind indexes (HMAC).

A field's ciphertext is bound (as AES-GCM associated data) to the record and field it belongs
to, so a ciphertext copied into another record or field does not decrypt. Exact look-ups
(a phone number, a blocking key for deduplication) go through blind indexes: HMAC-SHA256
under a separate key, so the index reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from typing import Any, Collection

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class DecryptionError(Exception):
    """The ciphertext was altered, moved to another record/field, or the key is wrong."""


class FieldCipher:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    def encrypt(self, value: Any, *, record: str, field: str) -> str:
        """JSON-encode ``value`` and encrypt it; returns base64(nonce || ciphertext || tag)."""
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plaintext, f"{record}\x00{field}".encode())
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, record: str, field: str) -> Any:
        try:
            raw = base64.b64decode(token)
            plaintext = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{record}\x00{field}".encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(f"{field} of {record} does not decrypt") from exc
        return json.loads(plaintext)

    def encrypt_fields(self, values: dict[str, Any], *, record: str) -> dict[str, str]:
        return {f: self.encrypt(v, record=record, field=f) for f, v in values.items() if v is not None}

    def decrypt_fields(self, sealed: dict[str, str], *, record: str,
                       only: Collection[str] | None = None) -> dict[str, Any]:
        """Open the sealed fields (``only`` those named, when given: open no more than needed)."""
        return {f: self.decrypt(t, record=record, field=f) for f, t in sealed.items() if only is None or f in only}


def blind_index(key: bytes, value: str, *, purpose: str) -> str:
    """A keyed, purpose-separated index of ``value`` (hex, 128 bits)."""
    return hmac.digest(key, purpose.encode() + b"\x00" + value.encode(), "sha256").hex()[:32]


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets (OTPs, codes) without leaking where they differ."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)
