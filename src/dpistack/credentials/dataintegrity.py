"""Data Integrity proofs with the cryptosuite ``eddsa-rdfc-2022`` (W3C "Data Integrity EdDSA
Cryptosuites v1.0" §3.3, and "Verifiable Credential Data Integrity 1.0" §4).

Creating a proof of ``document`` with proof options ``options``:

1. *proof configuration*: the options (``type: DataIntegrityProof``, ``cryptosuite``,
   ``created``, ``verificationMethod``, ``proofPurpose``, and ``challenge`` / ``domain`` for
   an authentication proof) with the document's ``@context``, canonicalized with RDFC-1.0;
2. *transformation*: the document without ``proof``, canonicalized with RDFC-1.0;
3. *hashing*: ``hashData`` = SHA-256(canonical proof configuration) followed by
   SHA-256(canonical document), 64 bytes;
4. *serialization*: the Ed25519 signature (pure EdDSA, RFC 8032) of ``hashData``, as
   ``proofValue`` in multibase base58-btc (``z…``).

Verification does the same from the secured document and checks the signature with the key
of ``verificationMethod`` (resolved by :class:`~dpistack.credentials.didkey.Resolver`), after
checking the proof's type, cryptosuite, purpose, dates, challenge and domain; each failure is
its own :mod:`~dpistack.credentials.vcerrors` class.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpistack.credentials import contexts, didkey
from dpistack.credentials.vcerrors import (BadProofValue, BadSignature, MalformedProof, MissingProof,
                                           UnknownCryptosuite, WrongChallenge, WrongDomain, WrongKey,
                                           WrongProofPurpose)

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def xsd_datetime(value: Any) -> datetime:
    """An XML Schema dateTime with a time zone (``…Z`` or ``…+hh:mm``), else ValueError."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError(f"{value!r} is not an XML Schema dateTime with a time zone")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def now_datetime(now: float | None = None) -> str:
    moment = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the cryptosuite's steps (§3.3.3 – §3.3.6) -----------------------------------------------
def proof_configuration(document: dict, options: dict) -> str:
    """The canonical proof configuration: ``options`` with the document's ``@context``."""
    if options.get("type") != PROOF_TYPE or options.get("cryptosuite") != CRYPTOSUITE:
        raise UnknownCryptosuite(f"Only type {PROOF_TYPE} with cryptosuite {CRYPTOSUITE} is supported, not "
                                 f"{options.get('type')!r} / {options.get('cryptosuite')!r}.")
    if "created" in options:
        try:
            xsd_datetime(options["created"])
        except ValueError as exc:
            raise MalformedProof(f"The proof's created: {exc}.") from None
    config = {k: v for k, v in options.items() if k not in ("proofValue", "@context")}
    config["@context"] = document["@context"]
    return contexts.canonicalize(config)


def transform(document: dict) -> str:
    """The canonical (RDFC-1.0 N-Quads) form of the unsecured document."""
    return contexts.canonicalize({k: v for k, v in document.items() if k != "proof"})


def hash_data(canonical_document: str, canonical_proof_config: str) -> bytes:
    """SHA-256 of the proof configuration followed by SHA-256 of the document (§3.3.4)."""
    return (hashlib.sha256(canonical_proof_config.encode()).digest()
            + hashlib.sha256(canonical_document.encode()).digest())


# -- creating ----------------------------------------------------------------------------------
def sign(document: dict, key: Ed25519PrivateKey, verification_method: str, *,
         purpose: str = "assertionMethod", created: str | None = None, challenge: str | None = None,
         domain: str | None = None) -> dict:
    """``document`` with a ``proof`` of cryptosuite eddsa-rdfc-2022 (§3.3.1 Create Proof)."""
    if not isinstance(document, dict) or "@context" not in document:
        raise MalformedProof("A document to sign is a JSON-LD object with an @context.")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options: dict[str, Any] = {"type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE,
                               "created": created or now_datetime(), "verificationMethod": verification_method,
                               "proofPurpose": purpose}
    if challenge is not None:
        options["challenge"] = challenge
    if domain is not None:
        options["domain"] = domain
    data = hash_data(transform(unsecured), proof_configuration(unsecured, options))
    proof = dict(options, proofValue=didkey.multibase_b58(key.sign(data)))
    return dict(copy.deepcopy(unsecured), proof=proof)


# -- verifying ---------------------------------------------------------------------------------
def the_proof(document: dict) -> dict:
    proof = document.get("proof") if isinstance(document, dict) else None
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if proof is None:
        raise MissingProof("The document has no proof.")
    if not isinstance(proof, dict):
        raise MalformedProof("proof must be one Data Integrity proof object (proof sets are not supported).")
    return proof


def verify(document: dict, resolver: didkey.Resolver, *, purpose: str = "assertionMethod",
           challenge: str | None = None, domain: str | None = None,
           now: datetime | None = None) -> didkey.VerificationMethod:
    """The verification method whose key made ``document``'s proof, if it verifies (§3.3.2
    Verify Proof, with the Data Integrity checks of purpose, dates, challenge and domain)."""
    if contexts.too_deep(document):  # before anything walks it recursively
        raise MalformedProof(f"The document nests deeper than {contexts.MAX_DEPTH} levels.")
    proof = the_proof(document)
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise UnknownCryptosuite(f"Unsupported proof {proof.get('type')!r} / cryptosuite "
                                 f"{proof.get('cryptosuite')!r}: this verifier knows {PROOF_TYPE} / {CRYPTOSUITE}.")
    proof_value = proof.get("proofValue")
    try:
        signature = didkey.from_multibase_b58(proof_value)
    except ValueError as exc:
        raise BadProofValue(f"proofValue: {exc}.") from None
    if len(signature) != 64:
        raise BadProofValue(f"proofValue holds {len(signature)} bytes; an Ed25519 signature has 64.")
    if proof.get("proofPurpose") != purpose:
        raise WrongProofPurpose(f"The proof's purpose is {proof.get('proofPurpose')!r}; {purpose!r} is expected.")
    moment = now or datetime.now(UTC)
    for name in ("created", "expires"):
        if name in proof:
            try:
                when = xsd_datetime(proof[name])
            except ValueError as exc:
                raise MalformedProof(f"The proof's {name}: {exc}.") from None
            if name == "expires" and when < moment:
                raise MalformedProof("The proof has expired.")
    if challenge is not None and not (isinstance(proof.get("challenge"), str)
                                      and hmac.compare_digest(proof["challenge"].encode(), challenge.encode())):
        raise WrongChallenge("The proof's challenge is not the one this verifier asked for.")
    if domain is not None:
        got = proof.get("domain")
        got = got if isinstance(got, list) else [got]
        if domain not in got:
            raise WrongDomain(f"The proof's domain is not {domain!r}.")
    method = resolver.verification_method(proof.get("verificationMethod"))
    if purpose not in method.purposes:
        raise WrongKey(f"{method.id} is not authorised by its controller for {purpose}.")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    data = hash_data(transform(unsecured), proof_configuration(unsecured, options))
    try:
        method.key.verify(signature, data)
    except InvalidSignature:
        raise BadSignature("The proof's signature does not verify: the document or its proof was changed, "
                           "or another key signed it.") from None
    return method
