"""Multibase base58-btc (``z…``) and Ed25519 Multikeys, shared by the credentials block (which
signs and resolves ``did:key``) and governance (which checks a ``did:key`` proposed for the
trust registry against the keys that come with it).

A Multikey is the multicodec ``ed25519-pub`` (0xed, as the varint ``0xed 0x01``) then the 32
key bytes, so in base58-btc it starts ``z6Mk``.
"""

from __future__ import annotations

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub as an unsigned varint


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _B58_INDEX.get(c)
        if i is None:
            raise ValueError(f"{c!r} is not a base58-btc character")
        n = n * 58 + i
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def multibase_b58(data: bytes) -> str:
    return "z" + b58encode(data)


def from_multibase_b58(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z") or len(text) > 1000:
        raise ValueError("not a base58-btc multibase string (z…)")
    return b58decode(text[1:])


def ed25519_multikey_bytes(value: str) -> bytes:
    """The 32 raw bytes of an Ed25519 Multikey (``z6Mk…``), else ValueError."""
    raw = from_multibase_b58(value)
    if len(raw) != 34 or raw[:2] != ED25519_PUB:
        raise ValueError("not an Ed25519 Multikey (multicodec 0xed01 and 32 bytes)")
    return raw[2:]
