"""The trust registry: issuer.trust / issuer.distrust proposals, the signed trust list, our
JWT VC issuer metadata, and the verify endpoint refusing credentials of untrusted issuers."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt, service, trust
from dpistack.governance import rules
from dpistack.governance import service as governance
from dpistack.governance.credentials import new_key, public_jwk

from .people import enact

FOREIGN = "https://id.ug.example"
VCT = "urn:dpistack:vct:national-id:1"


def foreign_issuer():
    private = ec.generate_private_key(ec.SECP256R1())
    return sdjwt.SigningKey("ug-2026", private), {"keys": [{**sdjwt.public_jwk(private), "kid": "ug-2026"}]}


def credential(key, holder, iss=FOREIGN, vct=VCT):
    return sdjwt.issue({"given_name": "Okello", "age_over_18": True}, issuer=iss, vct=vct, key=key,
                       holder_jwk=sdjwt.public_jwk(holder))


def presented(sd_jwt, holder, nonce="n-1", aud="https://bar.test"):
    return sdjwt.present(sd_jwt, ["age_over_18"], holder_key=holder, audience=aud, nonce=nonce)


def trust_payload(jwks, **over):
    return {"iss": FOREIGN, "name": "Uganda national ID", "country": "UG", "vcts": [VCT], "jwks": jwks, **over}


def verify(client, presentation, nonce="n-1", aud="https://bar.test"):
    r = client.post("/credentials/v1/verify", json={"presentation": presentation, "nonce": nonce, "audience": aud})
    assert r.status_code == 200, r.text
    return r.json()


def signed_list(client) -> dict:
    r = client.get("/governance/v1/trusted-issuers")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/trust-list+jwt")
    return trust.verify_signed_list(r.text, client.get("/.well-known/jwks.json").json())


def test_issuer_trust_needs_the_identity_authority_and_the_operator(actors):
    _, jwks = foreign_issuer()
    r = actors("digital-agency").propose("issuer.trust", trust_payload(jwks))
    assert r.status_code == 201, r.text
    assert r.json()["required"] == ["role:identity-authority", "role:platform-operator"]
    proposal = r.json()
    assert actors("identity-authority").decide(proposal).json()["status"] == "open"
    assert actors("digital-agency").decide(proposal).json()["status"] == "enacted"


def test_rules_made_before_the_trust_registry_fall_back_to_its_default_rule():
    old = {k: v for k, v in rules.DEFAULT_RULES.items() if not k.startswith("issuer.")}
    assert rules.requirements(old, "issuer.distrust") == ["role:identity-authority"]


@pytest.mark.parametrize("bad", [
    {"iss": "http://id.ug.example"},  # plain http off loopback
    {"iss": "https://id.ug.example/"},  # trailing slash: would never equal a credential's iss
    {"iss": "https://id.ug.example?x=1"},
    {"country": "Uganda"},
    {"vcts": []},
    {"valid_until": "2001-01-01T00:00:00Z"},
])
def test_bad_trust_proposals_are_refused(actors, bad):
    _, jwks = foreign_issuer()
    r = actors("digital-agency").propose("issuer.trust", trust_payload(jwks, **bad))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text


def test_trust_proposals_refuse_private_or_non_p256_keys(actors):
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.private_numbers()
    jwk = {**sdjwt.public_jwk(private), "d": sdjwt.b64e(numbers.private_value.to_bytes(32, "big"))}
    assert actors("digital-agency").propose("issuer.trust", trust_payload({"keys": [jwk]})).status_code == 422
    okp = public_jwk(new_key())
    if okp["kty"] == "OKP":
        assert actors("digital-agency").propose("issuer.trust", trust_payload({"keys": [okp]})).status_code == 422


def test_distrusting_an_issuer_that_is_not_trusted_is_refused(actors):
    r = actors("digital-agency").propose("issuer.distrust", {"iss": FOREIGN, "reason": "never trusted"})
    assert r.status_code == 422, r.text


def test_our_jwt_vc_issuer_metadata_verifies_our_credentials(platform, client):
    meta = client.get("/.well-known/jwt-vc-issuer").json()
    assert meta["issuer"] == "http://testserver" and "jwks_uri" not in meta
    assert all(k["kty"] == "EC" and k["alg"] == "ES256" and "d" not in k for k in meta["jwks"]["keys"])
    holder = ec.generate_private_key(ec.SECP256R1())
    ours = credential(service.signing_key(platform), holder, iss=service.issuer_id(platform))
    keys = sdjwt.TrustedIssuers()
    keys.add_jwks(meta["issuer"], meta["jwks"])
    assert sdjwt.verify(ours, keys, require_key_binding=False).claims["iss"] == meta["issuer"]


def test_own_credentials_verify_and_foreign_ones_only_while_trusted(actors, platform, client):
    holder = ec.generate_private_key(ec.SECP256R1())
    ours = credential(service.signing_key(platform), holder, iss=service.issuer_id(platform))
    result = verify(client, presented(ours, holder))
    assert result["verified"] is True and result["claims"]["age_over_18"] is True
    assert result["issuer"]["self"] is True and "given_name" not in result["claims"]

    key, jwks = foreign_issuer()
    theirs = presented(credential(key, holder), holder)
    refused = verify(client, theirs)
    assert refused["verified"] is False and refused["error"] == "untrusted_issuer"
    assert FOREIGN in refused["error_description"] and "not on" in refused["error_description"]

    before = signed_list(client)
    enact(actors, "issuer.trust", trust_payload(jwks))
    accepted = verify(client, theirs)
    assert accepted["verified"] is True, accepted
    assert accepted["issuer"] == {"iss": FOREIGN, "name": "Uganda national ID", "country": "UG", "self": False}
    # Trusted for its national ID only, and still every other check applies.
    other_type = presented(credential(key, holder, vct="urn:ug:vct:driving-licence"), holder)
    assert verify(client, other_type)["error"] == "untrusted_issuer"
    assert verify(client, theirs, nonce="n-2")["error"] == "wrong_nonce"
    impostor, _ = foreign_issuer()  # someone else's key under the trusted name
    assert verify(client, presented(credential(sdjwt.SigningKey("ug-2026", impostor.private), holder), holder)
                  )["error"] == "bad_signature"

    listed = signed_list(client)
    assert listed["seq"] == before["seq"] + 1
    assert [i["iss"] for i in listed["issuers"]] == ["http://testserver", FOREIGN]
    assert listed["issuers"][0]["self"] is True

    proposal = enact(actors, "issuer.distrust", {"iss": FOREIGN, "reason": "key compromised"},
                     approvers=("identity-authority",))
    gone = verify(client, theirs)
    assert gone["error"] == "untrusted_issuer" and "distrusted" in gone["error_description"]
    assert proposal["id"] in gone["error_description"]
    after = signed_list(client)
    assert after["seq"] == listed["seq"] + 1 and [i["iss"] for i in after["issuers"]] == ["http://testserver"]
    assert after["distrusted"][0]["iss"] == FOREIGN
    with platform.db.uow() as session:
        assert governance.check(session) == []


def test_trust_lapses_at_valid_until(actors, platform, client):
    key, jwks = foreign_issuer()
    until = time.time() + 3600
    enact(actors, "issuer.trust", trust_payload(jwks, valid_until=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                 time.gmtime(until))))
    holder = ec.generate_private_key(ec.SECP256R1())
    theirs = presented(credential(key, holder), holder)
    listed = trust.for_platform(platform)
    assert trust.verify(theirs, listed, audience="https://bar.test", nonce="n-1")[1].iss == FOREIGN
    with pytest.raises(E.UntrustedIssuer, match="lapsed"):
        listed.entry_for(FOREIGN, VCT, now=until + 1)


def test_a_trust_list_is_checked_with_the_platform_key(platform, client):
    token = client.get("/governance/v1/trusted-issuers").text
    jwks = client.get("/.well-known/jwks.json").json()
    header, payload, body = token.split(".")
    forged = header + "." + sdjwt.b64e(sdjwt.b64d(payload).replace(b'"seq":0', b'"seq":9')) + "." + body
    with pytest.raises(E.BadTrustList, match="signature"):
        trust.verify_signed_list(forged, jwks)
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(E.BadTrustList, match="not in the platform's JWKS"):
        trust.verify_signed_list(token, {"keys": [{**sdjwt.public_jwk(stranger), "kid": "x"}]})
    with pytest.raises(E.BadTrustList, match="expired"):
        trust.verify_signed_list(token, jwks, now=time.time() + 365 * 86400)
    key = service.signing_key(platform)  # the platform's key, but not a trust list
    other = sdjwt.sign_jws({"alg": "ES256", "typ": "JWT", "kid": key.kid}, {"exp": time.time() + 60}, key.private)
    with pytest.raises(E.BadTrustList, match="Not a trust list"):
        trust.verify_signed_list(other, jwks)


def test_verify_endpoint_refuses_bad_requests_in_its_format(client):
    r = client.post("/credentials/v1/verify", json={"presentation": "x~"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_credential_request"
    result = verify(client, "not-a-jwt~")
    assert result["verified"] is False and result["error"] == "malformed"
