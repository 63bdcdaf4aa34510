"""Who the credential tests enrol and how an issuer agent gets their eKYC release (shared by
the issuer, verifier and wallet tests; the fixtures that use it are in conftest.py)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PERSON = {
    "names": [{"language": "en", "given": "Amina", "family": "Hassan"}],
    "birth_date": "1990-04-12", "sex": "female", "birth_place": "Mombasa",
    "address": "12 Harbour Road, Mombasa", "phone": "+254700000001",
}
AGENT_CLAIMS = ("given_name", "family_name", "birthdate")


def enrol_with_agent(actors) -> tuple[str, object]:
    """Amina enrolled by the civil registry, and an issuer agent granted her name and birth date."""
    office = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    r = office.post("/identity/v1/enrolments", json=PERSON)
    assert r.status_code in (201, 202) and r.json()["status"] == "issued", r.text
    agent = actors.onboard("id-credentials", "agency", ["relying-party", "credential-issuer"], ["identity-authority"])
    actors.grant_claims("id-credentials", list(AGENT_CLAIMS))
    return r.json()["uin"], agent


def kyc_for(agent, uin, consented=AGENT_CLAIMS) -> str:
    r = agent.post("/identity/v1/kyc", json={"individual_id": uin, "transaction_id": "vc-1",
                                             "demographics": {"birth_date": PERSON["birth_date"]},
                                             "consented_claims": list(consented)})
    assert r.status_code == 200 and r.json()["kyc"], r.text
    return r.json()["kyc"]


def enact(actors, kind, payload, approvers=("identity-authority", "digital-agency")):
    """A governance proposal made by the digital agency and approved until enacted."""
    r = actors("digital-agency").propose(kind, payload)
    assert r.status_code == 201, r.text
    proposal = r.json()
    for approver in approvers:
        decided = actors(approver).decide(proposal)
        assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "enacted"
    return proposal


def trust_did(actors, did, keys, types=("NationalIdCredential",), **over):
    """Governance trusts a DID issuer of W3C credentials: ``keys`` are (kid, Ed25519 public key)."""
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": base64.urlsafe_b64encode(
        key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode().rstrip("=")} for kid, key in keys]}
    return enact(actors, "issuer.trust", {"iss": did, "name": "Uganda national ID", "country": "UG",
                                          "vcts": list(types), "jwks": jwks, **over})
