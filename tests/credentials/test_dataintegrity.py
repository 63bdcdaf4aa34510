"""Data Integrity eddsa-rdfc-2022: the W3C vc-di-eddsa test vectors byte for byte, did:key /
did:web, the bundled contexts only, and each refusal with its own code."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpistack.credentials import contexts, dataintegrity as di, didkey
from dpistack.credentials import vcerrors as e

VECTORS = Path(__file__).parent / "vectors" / "vc-di-eddsa"


def vector(name: str) -> str:
    return (VECTORS / name).read_text()


def test_w3c_vectors_byte_for_byte():
    unsigned = json.loads(vector("unsigned.json"))
    config = json.loads(vector("proofConfigDataInt.json"))
    canonical = di.transform(unsigned)
    assert canonical == vector("canonDocDataInt.txt")
    assert hashlib.sha256(canonical.encode()).hexdigest() == vector("docHashDataInt.txt").strip()
    proof_canonical = di.proof_configuration(unsigned, config)
    assert proof_canonical == vector("proofCanonDataInt.txt")
    assert hashlib.sha256(proof_canonical.encode()).hexdigest() == vector("proofHashDataInt.txt").strip()
    assert di.hash_data(canonical, proof_canonical).hex() == vector("combinedHashDataInt.txt").strip()

    pair = json.loads(vector("keyPair.json"))
    key = didkey.private_key_from_multikey(pair["privateKeyMultibase"])
    assert didkey.multikey(key.public_key()) == pair["publicKeyMultibase"]
    signed = di.sign(unsigned, key, config["verificationMethod"], created=config["created"])
    assert signed["proof"]["proofValue"] == vector("sigBTC58DataInt.txt").strip()
    assert didkey.from_multibase_b58(signed["proof"]["proofValue"]).hex() == vector("sigHexDataInt.txt").strip()
    assert signed == json.loads(vector("signedDataInt.json"))


def test_we_verify_the_w3c_signed_credential():
    signed = json.loads(vector("signedDataInt.json"))
    method = di.verify(signed, didkey.Resolver())
    assert method.controller == "did:key:" + json.loads(vector("keyPair.json"))["publicKeyMultibase"]


def test_multibase_and_did_key():
    assert didkey.b58encode(b"\0\0\x01") == "112"
    assert didkey.b58decode("112") == b"\0\0\x01"
    key = Ed25519PrivateKey.generate().public_key()
    assert didkey.multikey(key).startswith("z6Mk")
    assert didkey.public_key_bytes(didkey.key_from_multikey(didkey.multikey(key))) == didkey.public_key_bytes(key)
    assert didkey.did_key_vm(key) == f"{didkey.did_key(key)}#{didkey.multikey(key)}"
    assert didkey.did_web("http://127.0.0.1:8000") == "did:web:127.0.0.1%3A8000"
    assert didkey.did_web("https://example.org/issuers/a") == "did:web:example.org:issuers:a"
    assert didkey.did_web_document_url("did:web:example.org:issuers:a") == "https://example.org/issuers/a/did.json"


@pytest.fixture
def alumni():
    key = Ed25519PrivateKey.generate()
    document = json.loads(vector("unsigned.json"))
    document["issuer"] = didkey.did_key(key.public_key())
    return key, di.sign(document, key, didkey.did_key_vm(key.public_key()))


def test_sign_and_verify_round_trip(alumni):
    key, signed = alumni
    assert di.verify(signed, didkey.Resolver()).controller == signed["issuer"]


def test_did_web_from_a_held_document():
    key = Ed25519PrivateKey.generate()
    did = "did:web:issuer.example"
    resolver = didkey.Resolver()
    resolver.add_document(didkey.did_document(did, [("key-1", key.public_key())]))
    signed = di.sign(json.loads(vector("unsigned.json")), key, did + "#key-1")
    assert di.verify(signed, resolver).controller == did
    with pytest.raises(e.UnresolvableVerificationMethod):
        di.verify(signed, didkey.Resolver())  # nothing fetched: an unknown did:web does not resolve
    other = didkey.Resolver()
    other.add_document(didkey.did_document(did, [("key-1", Ed25519PrivateKey.generate().public_key())]))
    with pytest.raises(e.BadSignature):
        di.verify(signed, other)


def refuse(signed, error, **kw):
    with pytest.raises(error) as info:
        di.verify(signed, didkey.Resolver(), **kw)
    assert info.value.code == error.code
    return info.value


def test_tampered_document(alumni):
    _, signed = alumni
    signed["credentialSubject"]["alumniOf"] = "Another School"
    refuse(signed, e.BadSignature)


def test_tampered_proof_options(alumni):
    _, signed = alumni
    signed["proof"]["created"] = "2020-01-01T00:00:00Z"
    refuse(signed, e.BadSignature)


def test_unknown_cryptosuite(alumni):
    _, signed = alumni
    signed["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"
    refuse(signed, e.UnknownCryptosuite)
    signed["proof"]["type"] = "Ed25519Signature2020"
    refuse(signed, e.UnknownCryptosuite)


@pytest.mark.parametrize("value", ["uAAAA", "z0OIl", "z" + didkey.b58encode(b"\1" * 63), 42, None])
def test_bad_proof_value(alumni, value):
    _, signed = alumni
    signed["proof"]["proofValue"] = value
    refuse(signed, e.BadProofValue)


def test_wrong_key(alumni):
    _, signed = alumni
    other = Ed25519PrivateKey.generate().public_key()
    signed["proof"]["verificationMethod"] = didkey.did_key_vm(other)
    refuse(signed, e.BadSignature)
    signed["proof"]["verificationMethod"] = "did:key:z6MkBAD#z6MkBAD"
    refuse(signed, e.UnresolvableVerificationMethod)


def test_missing_proof_and_wrong_purpose(alumni):
    _, signed = alumni
    refuse(signed, e.WrongProofPurpose, purpose="authentication")
    del signed["proof"]
    refuse(signed, e.MissingProof)


def test_undefined_term_is_refused(alumni):
    key, _ = alumni
    document = json.loads(vector("unsigned.json"))
    document["@context"] = [contexts.CREDENTIALS_V2]  # no examples context: alumniOf is undefined
    with pytest.raises(e.UndefinedTerm, match="alumniOf"):
        di.sign(document, key, didkey.did_key_vm(key.public_key()))
    document["credentialSubject"] = {"id": "did:example:abc"}
    document["type"] = ["VerifiableCredential", "AlumniCredential"]
    with pytest.raises(e.UndefinedTerm, match="AlumniCredential"):
        di.sign(document, key, didkey.did_key_vm(key.public_key()))


def test_an_undefined_term_added_after_signing_is_refused(alumni):
    _, signed = alumni
    signed["@context"] = [contexts.CREDENTIALS_V2]
    refuse(signed, e.UndefinedTerm)


def test_contexts_are_never_fetched(alumni):
    _, signed = alumni
    signed["@context"] = [contexts.CREDENTIALS_V2, "https://example.org/some/context"]
    error = refuse(signed, e.UnknownContext)
    assert "never fetched" in error.detail


@pytest.mark.parametrize("context", [42, [{"@version": 2.0}], [{"name": {"@id": 5}}]])
def test_malformed_jsonld(alumni, context):
    _, signed = alumni
    signed["@context"] = context
    refuse(signed, e.MalformedJsonLd)


def test_challenge_and_domain():
    key = Ed25519PrivateKey.generate()
    vp = {"@context": [contexts.CREDENTIALS_V2], "type": ["VerifiablePresentation"],
          "holder": didkey.did_key(key.public_key())}
    signed = di.sign(vp, key, didkey.did_key_vm(key.public_key()), purpose="authentication",
                     challenge="c-123", domain="https://verifier.example")
    kw = {"purpose": "authentication"}
    assert di.verify(copy.deepcopy(signed), didkey.Resolver(), challenge="c-123",
                     domain="https://verifier.example", **kw)
    refuse(copy.deepcopy(signed), e.WrongChallenge, challenge="c-999", **kw)
    refuse(copy.deepcopy(signed), e.WrongDomain, challenge="c-123", domain="https://other.example", **kw)


def test_deep_nesting_is_refused_not_a_crash(alumni):
    key, signed = alumni
    deep: dict = {}
    node = deep
    for _ in range(600):
        node["credentialSubject"] = {}
        node = node["credentialSubject"]
    signed["credentialSubject"] = deep
    refuse(signed, e.MalformedProof)
    with pytest.raises(e.MalformedJsonLd):
        di.sign({k: v for k, v in signed.items() if k != "proof"}, key, didkey.did_key_vm(key.public_key()))
