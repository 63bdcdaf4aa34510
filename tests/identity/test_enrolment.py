"""Enrolment through the API: UIN issuance, deduplication, the review queue, bad input."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from dpistack.identity.models import Enrolment, Person
from dpistack.identity.numbers import is_valid_uin
from dpistack.transparency.models import LogEntry

AMINA = {
    "names": [{"language": "en", "given": "Amina", "family": "Hassan"},
              {"language": "ar", "given": "أمينة", "family": "حسن"}],
    "birth_date": "1990-04-12",
    "sex": "female",
    "birth_place": "Mombasa",
    "address": "12 Harbour Road, Mombasa",
    "phone": "+254700000001",
}


@pytest.fixture
def office(actors):
    """A civil registration office, onboarded with the identity authority's approval."""
    return actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])


def enrol(office, person, **extra):
    return office.post("/identity/v1/enrolments", json={**person, **extra})


def count(platform, model) -> int:
    with platform.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_new_person_gets_a_uin_and_their_data_is_sealed(office, platform):
    r = enrol(office, AMINA)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "issued" and is_valid_uin(body["uin"])
    assert office.get(f"/identity/v1/enrolments/{body['enrolment_id']}").json() == body
    with platform.db.uow() as s:
        person = s.get(Person, body["uin"])
        stored = str(person.demographics) + str(s.get(Enrolment, body["enrolment_id"]).demographics)
        log = b"".join(s.scalars(select(LogEntry.entry)))
    for secret in ("Amina", "Hassan", "Mombasa", "+254700000001", "1990-04-12"):
        assert secret not in stored  # encrypted at rest
        assert secret.encode() not in log
    assert body["uin"].encode() not in log  # the log carries a pseudonym, never the UIN
    assert b'"purpose":"enrolment: issued"' in log


def test_the_same_person_under_a_spelling_variant_is_refused_as_a_duplicate(office, platform):
    first = enrol(office, AMINA).json()
    variant = {**AMINA, "names": [{"language": "en", "given": "Aminah", "family": "Hasan"}],
               "address": "PO Box 1, Mombasa", "phone": None}
    r = enrol(office, variant)
    assert r.status_code == 202
    assert r.json()["status"] == "duplicate" and r.json()["duplicate_of"] == first["uin"]
    assert r.json()["uin"] is None
    assert count(platform, Person) == 1


def test_the_same_person_in_another_script_is_caught(office):
    first = enrol(office, AMINA).json()
    arabic_only = {**AMINA, "names": [{"language": "ar", "given": "أمينة", "family": "حسن"}]}
    r = enrol(office, arabic_only).json()
    assert r["status"] in ("duplicate", "review")
    if r["status"] == "duplicate":
        assert r["duplicate_of"] == first["uin"]


def test_different_people_are_not_confused(office):
    uins = set()
    for given, family, born, place in (("Amina", "Hassan", "1990-04-12", "Mombasa"),
                                       ("Peter", "Otieno", "1990-04-12", "Kisumu"),
                                       ("Grace", "Wanjiru", "1985-01-30", "Nyeri")):
        r = enrol(office, {**AMINA, "names": [{"language": "en", "given": given, "family": family}],
                           "birth_date": born, "birth_place": place}).json()
        assert r["status"] == "issued", r
        uins.add(r["uin"])
    assert len(uins) == 3


def test_uncertain_matches_wait_for_an_operator(office, actors, platform):
    first = enrol(office, AMINA).json()
    # Same name and place, birth date a month off: maybe the same person, maybe not.
    unsure = {**AMINA, "birth_date": "1990-05-12", "phone": None}
    r = enrol(office, unsure).json()
    assert r["status"] == "review", r
    operator = actors("identity-authority")
    queue = operator.get("/identity/v1/reviews").json()
    assert [item["enrolment_id"] for item in queue] == [r["enrolment_id"]]
    assert queue[0]["candidates"][0]["uin"] == first["uin"]
    assert office.get("/identity/v1/reviews").status_code == 403  # offices do not resolve reviews

    bad = operator.post(f"/identity/v1/reviews/{r['enrolment_id']}",
                        json={"decision": "duplicate", "duplicate_of": "2345678901", "reason": "x"})
    assert bad.status_code == 422
    done = operator.post(f"/identity/v1/reviews/{r['enrolment_id']}",
                         json={"decision": "issue", "reason": "different person: checked birth certificate"})
    assert done.status_code == 200 and done.json()["status"] == "issued" and done.json()["uin"] != first["uin"]
    again = operator.post(f"/identity/v1/reviews/{r['enrolment_id']}", json={"decision": "reject", "reason": "x"})
    assert again.status_code == 409
    assert operator.get("/identity/v1/reviews").json() == []


def test_an_operator_sees_a_review_beside_its_possible_duplicates(office, actors, platform):
    first = enrol(office, AMINA).json()
    r = enrol(office, {**AMINA, "birth_date": "1990-05-12", "phone": None, "address": "3 Hill Street"}).json()
    assert r["status"] == "review", r
    operator = actors("identity-authority")
    logged = count(platform, LogEntry)
    detail = operator.get(f"/identity/v1/reviews/{r['enrolment_id']}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["enrolment_id"] == r["enrolment_id"] and body["submitted_by"] == "civil-registry"
    assert body["enrolment"]["birth_date"] == "1990-05-12" and body["enrolment"]["address"] == "3 Hill Street"
    [candidate] = body["candidates"]
    assert candidate["uin"] == first["uin"] and candidate["birth_date"] == "1990-04-12" and candidate["score"] > 0
    assert candidate["names"][0]["given"] == "Amina"
    assert "phone" not in candidate and "biometrics" not in body["enrolment"]  # only what is compared
    assert count(platform, LogEntry) == logged + 2  # the candidate's record and the enrolment, opened
    assert office.get(f"/identity/v1/reviews/{r['enrolment_id']}").status_code == 403
    assert operator.get("/identity/v1/reviews/00000000-0000-0000-0000-000000000000").status_code == 404
    assert operator.post(f"/identity/v1/reviews/{r['enrolment_id']}",
                         json={"decision": "reject", "reason": "same person, typo"}).status_code == 200
    gone = operator.get(f"/identity/v1/reviews/{r['enrolment_id']}")
    assert gone.status_code == 409 and gone.headers["content-type"] == "application/problem+json"


def test_retries_with_a_request_id_are_idempotent(office, platform):
    a = enrol(office, AMINA, request_id="office-42").json()
    b = enrol(office, AMINA, request_id="office-42").json()
    assert a == b and count(platform, Enrolment) == 1
    clash = enrol(office, {**AMINA, "birth_place": "Nairobi"}, request_id="office-42")
    assert clash.status_code == 409 and count(platform, Enrolment) == 1


def test_biometric_match_catches_a_duplicate_with_other_demographics(office):
    template = base64.b64encode(b"face-template-of-amina" * 4).decode()
    first = enrol(office, {**AMINA, "biometrics": [{"modality": "face", "template": template}]}).json()
    disguised = {**AMINA, "names": [{"language": "en", "given": "Zawadi", "family": "Mwangi"}],
                 "birth_date": "1975-09-09", "birth_place": "Kisumu",
                 "biometrics": [{"modality": "face", "template": template}]}
    r = enrol(office, disguised).json()
    assert r["status"] == "duplicate" and r["duplicate_of"] == first["uin"]


def test_only_registration_offices_enrol_and_only_their_own_enrolments_are_visible(office, actors, client):
    bank = actors.onboard("enrol-bank", "bank", ["fsp"], ["central-bank"])
    assert bank.post("/identity/v1/enrolments", json=AMINA).status_code == 403
    assert client.post("/identity/v1/enrolments", json=AMINA).status_code == 401
    mine = enrol(office, AMINA).json()
    other = actors.onboard("other-registry", "registry", ["registration"], ["identity-authority"])
    assert other.get(f"/identity/v1/enrolments/{mine['enrolment_id']}").status_code == 404
    assert actors("identity-authority").get(f"/identity/v1/enrolments/{mine['enrolment_id']}").status_code == 200


@pytest.mark.parametrize("change", [
    {"parents": ["1234567890"]},                   # bad check digit / not a UIN
    {"birth_date": "2999-01-01"},
    {"birth_date": "12/04/1990"},
    {"names": []},
    {"sex": "unknown-value"},
    {"phone": "0700 000 001"},
    {"biometrics": [{"modality": "face", "template": "***"}]},
    {"unexpected": "field"},
])
def test_bad_input_is_refused_and_nothing_is_written(office, platform, change):
    before = (count(platform, Enrolment), count(platform, LogEntry))
    r = enrol(office, {**AMINA, **change})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (count(platform, Enrolment), count(platform, LogEntry)) == before


def test_parents_must_be_enrolled(office, platform):
    from dpistack.identity.numbers import generate_uin

    r = enrol(office, {**AMINA, "parents": [generate_uin()]})
    assert r.status_code == 422 and count(platform, Enrolment) == 0
    mother = enrol(office, AMINA).json()["uin"]
    child = {**AMINA, "names": [{"language": "en", "given": "Baraka", "family": "Hassan"}],
             "birth_date": "2015-06-01", "parents": [mother], "phone": None}
    assert enrol(office, child).json()["status"] == "issued"
