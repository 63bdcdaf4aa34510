"""Who the credential tests enrol and how an issuer agent gets their eKYC release (shared by
the issuer, verifier and wallet tests; the fixtures that use it are in conftest.py)."""

from __future__ import annotations

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
