"""C2SP signed notes and tlog checkpoints (golang.org/x/mod/sumdb/note format), Ed25519.

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <key name> <base64(4-byte key hash || 64-byte signature)>\\n

key hash = first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key);
verifier key = <name>+<8 hex key hash>+<base64(0x01 || public key)>.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ED25519 = b"\x01"
DASH = "\u2014 "  # EM DASH and a space start every signature line


class NoteError(ValueError):
    """The note is malformed or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def _raw_public(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, raw_public: bytes) -> bytes:
    """The 4-byte key hash that ties a signature line to a verifier key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + raw_public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError("a key name must be non-empty, without '+' or white space")


def verifier_key(name: str, public_key: ed25519.Ed25519PublicKey) -> str:
    """``<name>+<8 hex key hash>+<base64(0x01 || public key)>``."""
    _check_name(name)
    raw = _raw_public(public_key)
    return f"{name}+{key_hash(name, raw).hex()}+{base64.b64encode(ED25519 + raw).decode()}"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(origin: str, size: int, root: bytes, private_key: ed25519.Ed25519PrivateKey) -> str:
    """A signed checkpoint note; the key name is the origin."""
    _check_name(origin)
    body = checkpoint_body(origin, size, root)
    raw = _raw_public(private_key.public_key())
    signature = private_key.sign(body.encode())
    return body + "\n" + DASH + f"{origin} {base64.b64encode(key_hash(origin, raw) + signature).decode()}\n"


def parse_verifier_key(text: str) -> tuple[str, bytes, ed25519.Ed25519PublicKey]:
    """Name, key hash and public key of a verifier key, after checking that they agree."""
    parts = text.strip().split("+", 2)  # base64 may contain "+"
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<hash>+<key>")
    name, hash_hex, key_b64 = parts
    _check_name(name)
    try:
        raw = base64.b64decode(key_b64, validate=True)
        declared = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the verifier key is not valid base64 / hex") from exc
    if len(hash_hex) != 8 or len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("only Ed25519 verifier keys are supported")
    if key_hash(name, raw[1:]) != declared:
        raise NoteError("the verifier key's hash does not match its name and key")
    return name, declared, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_note(text: str, verifier: str) -> str:
    """Verify the note's signature by ``verifier``; returns the signed body text."""
    name, khash, public = parse_verifier_key(verifier)
    body, sep, signatures = text.partition("\n\n")
    if not sep or not body:
        raise NoteError("a note is a body, a blank line, then signature lines")
    body += "\n"
    found = False
    for line in signatures.split("\n"):
        if not line:
            continue
        if not line.startswith(DASH):
            raise NoteError(f"malformed signature line: {line!r}")
        sig_name, _, sig_b64 = line[len(DASH):].partition(" ")
        if sig_name != name:
            continue
        try:
            blob = base64.b64decode(sig_b64, validate=True)
        except binascii.Error as exc:
            raise NoteError("a signature is not valid base64") from exc
        if len(blob) != 68 or blob[:4] != khash:
            continue
        try:
            public.verify(blob[4:], body.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature by {name} does not verify") from exc
        found = True
    if not found:
        raise NoteError(f"the note carries no signature by {name}")
    return body


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint's origin, size and root (signature NOT checked: use verify_note)."""
    body = text.partition("\n\n")[0]
    lines = body.split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint body has origin, size and root lines")
    origin, size_text, root_b64 = lines[:3]
    if not (size_text.isascii() and size_text.isdigit()) or (len(size_text) > 1 and size_text[0] == "0"):
        raise NoteError("the tree size is not a decimal number")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except binascii.Error as exc:
        raise NoteError("the root hash is not base64") from exc
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)
