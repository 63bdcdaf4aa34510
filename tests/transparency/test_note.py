"""Signed notes, checked by an independent reading of the C2SP / sumdb note format."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dpistack.transparency import note

ORIGIN = "example.org/log"


def independent_verify(text: str, vkey: str) -> bool:
    """Straight from the format: name+hash+base64(0x01||key); sig line '— name base64(hash||sig)'."""
    name, hash_hex, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == hash_hex
    body, signatures = text.split("\n\n", 1)
    line = signatures.splitlines()[0]
    assert line.startswith("\u2014 " + name + " ")
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4].hex() == hash_hex
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], (body + "\n").encode())
        return True
    except Exception:
        return False


@pytest.fixture
def key():
    return ed25519.Ed25519PrivateKey.generate()


def test_checkpoint_format_and_signature(key):
    root = hashlib.sha256(b"root").digest()
    text = note.sign_checkpoint(ORIGIN, 42, root, key)
    lines = text.split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(root).decode(), ""]
    assert text.endswith("\n")
    vkey = note.verifier_key(ORIGIN, key.public_key())
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert vkey.endswith("+" + base64.b64encode(b"\x01" + raw).decode())
    assert independent_verify(text, vkey)
    assert note.verify_note(text, vkey) == f"{ORIGIN}\n42\n{base64.b64encode(root).decode()}\n"
    cp = note.parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 42, root)


def test_tampering_is_detected(key):
    root = hashlib.sha256(b"root").digest()
    text = note.sign_checkpoint(ORIGIN, 42, root, key)
    vkey = note.verifier_key(ORIGIN, key.public_key())
    with pytest.raises(note.NoteError):
        note.verify_note(text.replace("\n42\n", "\n43\n"), vkey)
    other = note.verifier_key(ORIGIN, ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(note.NoteError):
        note.verify_note(text, other)
    renamed = note.verifier_key("other.org/log", key.public_key())
    with pytest.raises(note.NoteError):
        note.verify_note(text, renamed)
    name, khash, k = vkey.split("+", 2)
    with pytest.raises(note.NoteError):
        note.parse_verifier_key(f"{name}+00000000+{k}")
    for bad in ("", "no blank line", ORIGIN + "\nx\nroot\n\n", ORIGIN + "\n1\nAAAA\n\n"):
        with pytest.raises(note.NoteError):
            note.parse_checkpoint(bad) if bad.count("\n") > 2 else note.verify_note(bad, vkey)
