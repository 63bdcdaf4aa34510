"""SD-JWT VC: issuing, presenting and verifying, and every way a presentation is refused."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt
from dpistack.credentials.sdjwt import b64d, b64e

ISS, VCT, AUD, NONCE = "http://issuer.test", "urn:dpistack:national-id:1", "https://rp.test", "nonce-1"
CLAIMS = {"given_name": "Amara", "family_name": "Okafor", "birthdate": "1990-04-12", "age_over_18": True,
          "nationality": "NG"}


@pytest.fixture
def setup():
    issuer = sdjwt.SigningKey("k1", ec.generate_private_key(ec.SECP256R1()))
    holder = ec.generate_private_key(ec.SECP256R1())
    trusted = sdjwt.TrustedIssuers()
    trusted.add(ISS, "k1", sdjwt.public_jwk(issuer.private))
    credential = sdjwt.issue(CLAIMS, issuer=ISS, vct=VCT, key=issuer, holder_jwk=sdjwt.public_jwk(holder), decoys=2)
    return issuer, holder, trusted, credential


def present(credential, holder, names=("age_over_18", "nationality"), **kw):
    return sdjwt.present(credential, names, holder_key=holder, audience=kw.get("aud", AUD),
                         nonce=kw.get("nonce", NONCE), now=kw.get("now"))


def test_issued_credential_has_the_sd_jwt_vc_shape(setup):
    _, holder, _, credential = setup
    assert credential.endswith("~")
    jwt, *disclosures, last = credential.split("~")
    assert last == "" and len(disclosures) == len(CLAIMS)
    header, payload = (json.loads(b64d(p)) for p in jwt.split(".")[:2])
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}
    assert payload["iss"] == ISS and payload["vct"] == VCT and payload["_sd_alg"] == "sha-256"
    assert payload["exp"] > payload["iat"] >= int(time.time()) - 5
    assert payload["cnf"]["jwk"] == sdjwt.public_jwk(holder)
    assert not set(CLAIMS) & set(payload)  # every claim is behind a digest
    assert len(payload["_sd"]) == len(CLAIMS) + 2 and payload["_sd"] == sorted(payload["_sd"])
    for d in disclosures:  # each digest is SHA-256 of the disclosure's ASCII
        assert b64e(hashlib.sha256(d.encode()).digest()) in payload["_sd"]
        salt, name, value = json.loads(b64d(d))
        assert len(b64d(salt)) == 16 and CLAIMS[name] == value


def test_presentation_discloses_only_what_was_chosen(setup):
    _, holder, trusted, credential = setup
    result = sdjwt.verify(present(credential, holder), trusted, audience=AUD, nonce=NONCE)
    assert result.claims["age_over_18"] is True and result.claims["nationality"] == "NG"
    for withheld in ("given_name", "family_name", "birthdate"):
        assert withheld not in result.claims
    assert "_sd" not in result.claims and "_sd_alg" not in result.claims
    assert result.key_binding["aud"] == AUD and result.holder_jwk == sdjwt.public_jwk(holder)


def test_plain_claims_and_nested_and_array_disclosures_are_processed(setup):
    issuer, holder, trusted, _ = setup
    credential = sdjwt.issue({"nationality": "NG", "age_over_18": True}, issuer=ISS, vct=VCT, key=issuer,
                             holder_jwk=sdjwt.public_jwk(holder), disclosable=["age_over_18"])
    result = sdjwt.verify(credential, trusted, require_key_binding=False)
    assert result.claims["nationality"] == "NG" and result.claims["age_over_18"] is True
    # Hand-made nesting: an object with its own _sd and an array with a "..." element.
    inner = sdjwt.make_disclosure("locality", "Ibadan")
    element = b64e(json.dumps(["salt-salt-salt", "NG"]).encode())
    digest = lambda d: b64e(hashlib.sha256(d.encode()).digest())  # noqa: E731
    payload = {"iss": ISS, "iat": int(time.time()), "vct": VCT, "_sd_alg": "sha-256",
               "address": {"_sd": [digest(inner)], "country": "NG"},
               "nationalities": [{"...": digest(element)}, "GH"]}
    jwt = sdjwt.sign_jws({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, payload, issuer.private)
    result = sdjwt.verify(f"{jwt}~{inner}~{element}~", trusted, require_key_binding=False)
    assert result.claims["address"] == {"country": "NG", "locality": "Ibadan"}
    assert result.claims["nationalities"] == ["NG", "GH"]
    withheld = sdjwt.verify(f"{jwt}~", trusted, require_key_binding=False)
    assert withheld.claims["address"] == {"country": "NG"} and withheld.claims["nationalities"] == ["GH"]


def _swap_disclosure(presentation, new):
    jwt, first, *rest = presentation.split("~")
    return "~".join([jwt, new, *rest])


def test_tampered_disclosure_is_refused(setup):
    _, holder, trusted, credential = setup
    p = present(credential, holder)
    salt, name, _ = json.loads(b64d(p.split("~")[1]))
    forged = b64e(json.dumps([salt, name, "XX" if name == "nationality" else False]).encode())
    with pytest.raises(E.UnknownDigest):
        sdjwt.verify(_swap_disclosure(p, forged), trusted, audience=AUD, nonce=NONCE)
    # A forged disclosure with a fresh KB-JWT over it (the holder lying) is refused the same way.
    jwt = p.split("~")[0]
    lie = f"{jwt}~{sdjwt.make_disclosure('age_over_18', True)}~"
    forged_p = present(lie, holder, names=["age_over_18"])
    with pytest.raises(E.UnknownDigest):
        sdjwt.verify(forged_p, trusted, audience=AUD, nonce=NONCE)
    with pytest.raises(E.MalformedDisclosure):
        sdjwt.verify(_swap_disclosure(p, "not*base64"), trusted, audience=AUD, nonce=NONCE)
    with pytest.raises(E.MalformedDisclosure):
        sdjwt.verify(_swap_disclosure(p, b64e(b'{"a":1}')), trusted, audience=AUD, nonce=NONCE)


def test_added_or_removed_disclosure_breaks_the_kb_sd_hash(setup):
    _, holder, trusted, credential = setup
    p = present(credential, holder, names=["age_over_18"])
    jwt, kept, kb = p.split("~")
    with pytest.raises(E.BadKeyBinding, match="sd_hash"):
        sdjwt.verify(f"{jwt}~{kb}", trusted, audience=AUD, nonce=NONCE)
    other = next(d for d, name, _ in sdjwt.disclosures_of(credential) if name == "birthdate")
    with pytest.raises(E.BadKeyBinding, match="sd_hash"):
        sdjwt.verify(f"{jwt}~{kept}~{other}~{kb}", trusted, audience=AUD, nonce=NONCE)


def test_duplicate_disclosure_and_duplicate_digest(setup):
    issuer, holder, trusted, credential = setup
    p = present(credential, holder, names=["age_over_18"])
    jwt, d, kb = p.split("~")
    with pytest.raises(E.DuplicateDisclosure):
        sdjwt.verify(f"{jwt}~{d}~{d}~{kb}", trusted, audience=AUD, nonce=NONCE)
    disc = sdjwt.make_disclosure("x", 1)
    dg = b64e(hashlib.sha256(disc.encode()).digest())
    payload = {"iss": ISS, "vct": VCT, "_sd": [dg, dg]}
    jwt2 = sdjwt.sign_jws({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, payload, issuer.private)
    with pytest.raises(E.DuplicateDigest):
        sdjwt.verify(f"{jwt2}~{disc}~", trusted, require_key_binding=False)
    # A disclosed claim that is also a plain claim.
    payload = {"iss": ISS, "vct": VCT, "x": 2, "_sd": [dg]}
    jwt3 = sdjwt.sign_jws({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, payload, issuer.private)
    with pytest.raises(E.ClaimConflict):
        sdjwt.verify(f"{jwt3}~{disc}~", trusted, require_key_binding=False)


def test_wrong_holder_key_missing_or_bad_kb(setup):
    _, holder, trusted, credential = setup
    thief = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(E.WrongHolderKey):
        sdjwt.verify(present(credential, thief), trusted, audience=AUD, nonce=NONCE)
    no_kb = present(credential, holder).rsplit("~", 1)[0] + "~"
    with pytest.raises(E.MissingKeyBinding):
        sdjwt.verify(no_kb, trusted, audience=AUD, nonce=NONCE)
    assert sdjwt.verify(no_kb, trusted, require_key_binding=False).key_binding is None
    p = present(credential, holder)
    prefix, kb = p.rsplit("~", 1)
    h, body, sig = kb.split(".")
    wrong_typ = b64e(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    with pytest.raises(E.BadKeyBinding, match="typ"):
        sdjwt.verify(f"{prefix}~{wrong_typ}.{body}.{sig}", trusted, audience=AUD, nonce=NONCE)
    with pytest.raises(E.BadKeyBinding):
        sdjwt.verify(f"{prefix}~garbage", trusted, audience=AUD, nonce=NONCE)
    none_alg = b64e(json.dumps({"alg": "none", "typ": "kb+jwt"}).encode())
    with pytest.raises(E.UnsupportedAlgorithm):
        sdjwt.verify(f"{prefix}~{none_alg}.{body}.", trusted, audience=AUD, nonce=NONCE)


def test_wrong_nonce_audience_and_stale_kb(setup):
    _, holder, trusted, credential = setup
    p = present(credential, holder)
    with pytest.raises(E.WrongNonce):
        sdjwt.verify(p, trusted, audience=AUD, nonce="another")
    with pytest.raises(E.WrongAudience):
        sdjwt.verify(p, trusted, audience="https://other-rp.test", nonce=NONCE)
    old = present(credential, holder, now=int(time.time()) - 3600)
    with pytest.raises(E.StaleKeyBinding):
        sdjwt.verify(old, trusted, audience=AUD, nonce=NONCE)


def test_expired_unknown_issuer_wrong_typ_bad_signature(setup):
    issuer, holder, trusted, credential = setup
    expired = sdjwt.issue(CLAIMS, issuer=ISS, vct=VCT, key=issuer, holder_jwk=sdjwt.public_jwk(holder),
                          now=int(time.time()) - 7200, lifetime=3600)
    with pytest.raises(E.Expired):
        sdjwt.verify(present(expired, holder), trusted, audience=AUD, nonce=NONCE)
    stranger = sdjwt.SigningKey("k1", ec.generate_private_key(ec.SECP256R1()))
    foreign = sdjwt.issue(CLAIMS, issuer="http://elsewhere.test", vct=VCT, key=stranger,
                          holder_jwk=sdjwt.public_jwk(holder))
    with pytest.raises(E.UnknownIssuerKey):
        sdjwt.verify(present(foreign, holder), trusted, audience=AUD, nonce=NONCE)
    forged = sdjwt.issue(CLAIMS, issuer=ISS, vct=VCT, key=stranger, holder_jwk=sdjwt.public_jwk(holder))
    with pytest.raises(E.BadSignature):
        sdjwt.verify(present(forged, holder), trusted, audience=AUD, nonce=NONCE)
    jwt = credential.split("~")[0]
    payload = json.loads(b64d(jwt.split(".")[1]))
    as_plain_jwt = sdjwt.sign_jws({"alg": "ES256", "typ": "JWT", "kid": "k1"}, payload, issuer.private)
    with pytest.raises(E.WrongType):
        sdjwt.verify(as_plain_jwt + "~", trusted, require_key_binding=False)
    # A payload changed after signing (an added claim) fails the issuer's signature.
    h, _, s = jwt.split(".")
    changed = b64e(json.dumps({**payload, "age_over_18": True}).encode())
    with pytest.raises(E.BadSignature):
        sdjwt.verify(f"{h}.{changed}.{s}~", trusted, require_key_binding=False)


@pytest.mark.parametrize("junk", ["", "no-tilde", "a.b~", "~~~", "é~", "x" * 70_000])
def test_malformed_input_gets_a_specific_error(setup, junk):
    _, _, trusted, _ = setup
    with pytest.raises(E.SdJwtError) as info:
        sdjwt.verify(junk, trusted, audience=AUD, nonce=NONCE)
    assert info.value.code and info.value.detail


def test_issue_refuses_reserved_claims_as_disclosable(setup):
    issuer, holder, _, _ = setup
    with pytest.raises(ValueError):
        sdjwt.issue({"vct": "x"}, issuer=ISS, vct=VCT, key=issuer, holder_jwk=sdjwt.public_jwk(holder))
    with pytest.raises(ValueError):
        sdjwt.issue({"iss": "x"}, issuer=ISS, vct=VCT, key=issuer, holder_jwk=sdjwt.public_jwk(holder),
                    disclosable=[])
