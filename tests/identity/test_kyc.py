"""eKYC: signed claims, only those governance allows the relying party AND the person consented to."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from dpistack.transparency.models import LogEntry

from .test_authentication import world  # noqa: F401  (fixture)
from .test_enrolment import AMINA

BIRTH = {"birth_date": "1990-04-12"}


def kyc(rp, uin, consented, **extra):
    r = rp.post("/identity/v1/kyc", json={"individual_id": uin, "transaction_id": "k1", "demographics": BIRTH,
                                          "consented_claims": consented, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def verified_claims(client, token: str) -> dict:
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "kyc+jwt"
    return decoded.claims


def test_released_claims_are_policy_and_consent_intersected(world, actors, client, platform):
    uin, rp, other, _ = world
    actors.grant_claims("bank-app", ["name", "birthdate", "phone_number"])
    answer = kyc(rp, uin, ["name", "birthdate", "address"])  # address: consented, not granted
    claims = verified_claims(client, answer["kyc"])
    assert answer["authenticated"] and claims["sub"] == answer["token"] and claims["aud"] == "bank-app"
    assert claims["name"] == "Amina Hassan" and claims["birthdate"] == AMINA["birth_date"]
    assert "address" not in claims and "phone_number" not in claims  # phone: granted, not consented
    # The other relying party has no grant: it authenticates but learns nothing.
    theirs = verified_claims(client, kyc(other, uin, ["name", "birthdate"])["kyc"])
    assert not {"name", "birthdate"} & set(theirs)
    with platform.db.uow() as s:
        logged = [e for e in s.scalars(select(LogEntry)) if b'"ekyc"' in e.entry]
    assert len(logged) == 2 and b"Amina" not in logged[0].entry and uin.encode() not in logged[0].entry


def test_names_in_the_asked_language(world, actors, client):
    uin, rp, _, _ = world
    actors.grant_claims("bank-app", ["name"])
    claims = verified_claims(client, kyc(rp, uin, ["name"], claims_locales=["ar", "en"])["kyc"])
    assert claims["name"] == "أمينة حسن" and claims["name#en"] == "Amina Hassan"


def test_failed_authentication_releases_nothing(world, actors):
    uin, rp, _, _ = world
    actors.grant_claims("bank-app", ["name"])
    r = rp.post("/identity/v1/kyc", json={"individual_id": uin, "transaction_id": "k1",
                                          "demographics": {"birth_date": "1991-01-01"}, "consented_claims": ["name"]})
    assert r.status_code == 200 and r.json() == {"authenticated": False, "transaction_id": "k1", "token": None,
                                                 "kyc": None}
    bad = rp.post("/identity/v1/kyc", json={"individual_id": uin, "transaction_id": "k1", "demographics": BIRTH,
                                            "consented_claims": ["religion"]})
    assert bad.status_code == 422
