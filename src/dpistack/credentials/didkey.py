"""Decentralized identifiers for Data Integrity: ``did:key`` (Ed25519 Multikey) and ``did:web``
from cached DID documents.

* The Multikey form of an Ed25519 public key (``z6Mk…``, base58-btc: ``core/multibase.py``).
* ``did:key:z6Mk…``: the DID is the key; its one verification method is ``did:key:z…#z…``
  (did:key method spec), good for ``assertionMethod`` and ``authentication``.
* ``did:web``: resolved only from DID documents this process holds (this platform's own, and
  any cached ones); nothing is fetched at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dpistack.core.multibase import (ED25519_PUB, b58decode, b58encode, ed25519_multikey_bytes,  # noqa: F401
                                     from_multibase_b58, multibase_b58)
from dpistack.credentials.vcerrors import UnresolvableVerificationMethod


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def multikey(key: Ed25519PublicKey) -> str:
    """The ``publicKeyMultibase`` of an Ed25519 key (``z6Mk…``)."""
    return multibase_b58(ED25519_PUB + public_key_bytes(key))


def key_from_multikey(value: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(ed25519_multikey_bytes(value))


def did_key(key: Ed25519PublicKey) -> str:
    return "did:key:" + multikey(key)


def did_key_vm(key: Ed25519PublicKey) -> str:
    """The one verification method of a did:key: ``did:key:z…#z…``."""
    fingerprint = multikey(key)
    return f"did:key:{fingerprint}#{fingerprint}"


def did_web(url: str) -> str:
    """The did:web of a host (and optional path), e.g. ``http://127.0.0.1:8000`` →
    ``did:web:127.0.0.1%3A8000`` (the port's colon percent-encoded, path segments as ``:``)."""
    parts = urlsplit(url)
    did = "did:web:" + quote(parts.netloc, safe="")
    path = parts.path.strip("/")
    return did + ("".join(":" + quote(p, safe="") for p in path.split("/")) if path else "")


def did_web_document_url(did: str) -> str:
    """Where a did:web's document lives (did:web method spec §3.2): informative only, never fetched."""
    segments = [unquote(s) for s in did.removeprefix("did:web:").split(":")]
    host, path = segments[0], segments[1:]
    return "https://" + host + ("/" + "/".join(path) + "/did.json" if path else "/.well-known/did.json")


def did_document(did: str, keys: list[tuple[str, Ed25519PublicKey]]) -> dict:
    """A DID document listing ``keys`` (fragment, key) as Multikey verification methods good
    for ``assertionMethod`` and ``authentication``."""
    methods = [{"id": f"{did}#{fragment}", "type": "Multikey", "controller": did,
                "publicKeyMultibase": multikey(key)} for fragment, key in keys]
    ids = [m["id"] for m in methods]
    return {"@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": did, "verificationMethod": methods, "assertionMethod": ids, "authentication": ids}


@dataclass(frozen=True)
class VerificationMethod:
    id: str
    controller: str
    key: Ed25519PublicKey
    purposes: frozenset[str]


@dataclass
class Resolver:
    """Resolves verification methods of did:key (computed) and of did:web DIDs whose DID
    documents it was given. Parsed keys are remembered."""

    documents: dict[str, dict] = field(default_factory=dict)
    _cache: dict[str, VerificationMethod] = field(default_factory=dict)

    def add_document(self, document: dict) -> None:
        self.documents[document["id"]] = document
        self._cache = {k: v for k, v in self._cache.items() if not k.startswith(document["id"] + "#")}

    def verification_method(self, vm_id: str) -> VerificationMethod:
        cached = self._cache.get(vm_id)
        if cached is None:
            cached = self._resolve(vm_id)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[vm_id] = cached
        return cached

    def _resolve(self, vm_id: str) -> VerificationMethod:
        if not isinstance(vm_id, str) or "#" not in vm_id:
            raise UnresolvableVerificationMethod("verificationMethod must be a DID URL with a fragment (did:…#…).")
        did, fragment = vm_id.split("#", 1)
        if did.startswith("did:key:"):
            fingerprint = did.removeprefix("did:key:")
            if fragment != fingerprint:
                raise UnresolvableVerificationMethod(f"A did:key's verification method is {did}#{fingerprint}.")
            try:
                key = key_from_multikey(fingerprint)
            except ValueError as exc:
                raise UnresolvableVerificationMethod(f"{did} is not an Ed25519 did:key: {exc}.") from None
            return VerificationMethod(vm_id, did, key, frozenset({"assertionMethod", "authentication"}))
        if did.startswith("did:web:"):
            document = self.documents.get(did)
            if document is None:
                raise UnresolvableVerificationMethod(
                    f"No DID document of {did} is held here (did:web documents are never fetched).")
            for method in document.get("verificationMethod", []):
                mid = method.get("id", "")
                if mid.startswith("#"):
                    mid = did + mid
                if mid != vm_id:
                    continue
                if method.get("type") != "Multikey" or method.get("controller") != did:
                    raise UnresolvableVerificationMethod(f"{vm_id} is not a Multikey controlled by {did}.")
                try:
                    key = key_from_multikey(method.get("publicKeyMultibase"))
                except ValueError as exc:
                    raise UnresolvableVerificationMethod(f"{vm_id}: {exc}.") from None
                purposes = frozenset(p for p in ("assertionMethod", "authentication")
                                     if any(r in (vm_id, "#" + fragment) for r in document.get(p, [])))
                return VerificationMethod(vm_id, did, key, purposes)
            raise UnresolvableVerificationMethod(f"{did}'s DID document has no verification method {vm_id}.")
        raise UnresolvableVerificationMethod(f"{did!r}: only did:key and did:web are supported.")


ED25519_PRIV = b"\x80\x26"  # multicodec ed25519-priv (0x1300) as an unsigned varint


def private_key_from_multikey(value: str):
    """An Ed25519 private key from its ``secretKeyMultibase`` (multicodec 0x1300, 32 bytes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = from_multibase_b58(value)
    if len(raw) != 34 or raw[:2] != ED25519_PRIV:
        raise ValueError("not an Ed25519 secret Multikey (multicodec 0x1300 and 32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])
