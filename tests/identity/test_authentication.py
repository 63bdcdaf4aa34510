"""Authentication through the API: OTP and demographic factors, partner tokens, lockout,
history and the transparency log, and what must not leak."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from dpistack.identity.authentication import LOCKOUT_FAILURES
from dpistack.identity.models import AuthEvent
from dpistack.identity.service import IdentityContext
from dpistack.transparency.models import LogEntry

from .test_enrolment import AMINA


@pytest.fixture
def world(actors, platform):
    office = actors.onboard("auth-registry", "registry", ["registration"], ["identity-authority"])
    uin = office.post("/identity/v1/enrolments", json=AMINA).json()["uin"]
    rp = actors.onboard("bank-app", "relying-party", ["relying-party"], ["identity-authority"])
    other = actors.onboard("health-app", "relying-party", ["relying-party"], ["identity-authority"])
    return uin, rp, other, IdentityContext.of(platform).channels["sms"]


def otp_for(rp, sms, uin, txn="t1") -> str:
    r = rp.post("/identity/v1/otp", json={"individual_id": uin, "transaction_id": txn, "channels": ["sms"]})
    assert r.status_code == 200, r.text
    return re.search(r"\b(\d{6})\b", sms.messages(AMINA["phone"])[-1]["message"]).group(1)


def auth(rp, uin, txn="t1", **factors):
    r = rp.post("/identity/v1/authenticate", json={"individual_id": uin, "transaction_id": txn, **factors})
    assert r.status_code == 200, r.text
    return r.json()


def test_otp_authentication_gives_a_partner_specific_token(world):
    uin, rp, other, sms = world
    ok = auth(rp, uin, otp=otp_for(rp, sms, uin))
    assert ok["authenticated"] is True and ok["token"] and uin not in ok["token"]
    assert auth(rp, uin, otp=otp_for(rp, sms, uin, "t2"), txn="t2")["token"] == ok["token"]  # stable per partner
    theirs = auth(other, uin, otp=otp_for(other, sms, uin, "t3"), txn="t3")
    assert theirs["authenticated"] and theirs["token"] != ok["token"]  # two partners cannot correlate


def test_replayed_wrong_or_foreign_otps_fail_without_saying_why(world):
    uin, rp, other, sms = world
    code = otp_for(rp, sms, uin)
    assert auth(other, uin, otp=code) == {"authenticated": False, "transaction_id": "t1", "token": None}
    assert auth(rp, uin, otp=code)["authenticated"]
    assert auth(rp, uin, otp=code) == {"authenticated": False, "transaction_id": "t1", "token": None}


def test_demographic_factor(world):
    uin, rp, _, _ = world
    assert auth(rp, uin, demographics={"given": "AMINA", "family": "hassan", "birth_date": "1990-04-12"})[
        "authenticated"]
    assert auth(rp, uin, demographics={"given": "أمينة", "family": "حسن"})["authenticated"]
    assert not auth(rp, uin, demographics={"given": "Amina", "birth_date": "1990-04-13"})["authenticated"]


def test_unknown_ids_look_like_failures_and_bad_ids_are_refused(world, platform):
    uin, rp, _, sms = world
    from dpistack.identity.numbers import generate_uin

    stranger = generate_uin()
    sent = rp.post("/identity/v1/otp", json={"individual_id": stranger, "transaction_id": "t9", "channels": ["sms"]})
    assert sent.status_code == 200 and sent.json()["status"] == rp.post("/identity/v1/otp", json={
        "individual_id": uin, "transaction_id": "t9", "channels": ["sms"]}).json()["status"]
    assert auth(rp, stranger, otp="123456")["authenticated"] is False
    for bad in ({"individual_id": "12ab", "transaction_id": "t"}, {"individual_id": uin, "transaction_id": "t",
                                                                  "otp": "12"},
                {"individual_id": uin, "transaction_id": "has space", "otp": "123456"}):
        r = rp.post("/identity/v1/authenticate", json=bad)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_repeated_failures_lock_the_id_even_for_the_right_code(world):
    uin, rp, _, sms = world
    for i in range(LOCKOUT_FAILURES):
        assert not auth(rp, uin, txn=f"x{i}", demographics={"birth_date": "2000-01-01"})["authenticated"]
    assert not auth(rp, uin, txn="late", otp=otp_for(rp, sms, uin, "late"))["authenticated"]


def test_every_attempt_is_in_the_history_and_the_log_without_the_uin(world, platform):
    uin, rp, _, sms = world
    auth(rp, uin, otp=otp_for(rp, sms, uin))
    auth(rp, uin, txn="t2", demographics={"given": "Nobody"})
    with platform.db.uow() as s:
        events = s.scalars(select(AuthEvent).order_by(AuthEvent.id)).all()
        log = b"".join(s.scalars(select(LogEntry.entry)))
    assert [(e.partner_id, e.outcome) for e in events] == [("bank-app", "success"), ("bank-app", "failure")]
    assert uin not in events[0].subject
    assert log.count(b"authentication: success") == 1 and log.count(b"authentication: failure") == 1
    assert uin.encode() not in log


def test_only_relying_parties_authenticate(world, actors):
    uin, _, _, _ = world
    office = actors("auth-registry")
    assert office.post("/identity/v1/authenticate", json={"individual_id": uin, "transaction_id": "t",
                                                           "otp": "123456"}).status_code == 403


def test_a_relying_party_causing_too_many_failures_is_slowed_down(world, platform):
    uin, rp, other, _ = world
    from dpistack.identity.numbers import generate_uin

    platform.settings.auth_failure_limit = "3/minute"
    for _ in range(3):  # guessing across different people: no one person's lockout triggers
        assert not auth(rp, generate_uin(), demographics={"birth_date": "1990-04-12"})["authenticated"]
    refused = rp.post("/identity/v1/authenticate", json={"individual_id": uin, "transaction_id": "t",
                                                         "demographics": {"birth_date": "1990-04-12"}})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    assert auth(other, uin, demographics={"birth_date": "1990-04-12"})["authenticated"]  # others unaffected
    with platform.db.uow() as s:  # the refused call wrote nothing
        assert s.scalar(select(func.count()).select_from(AuthEvent).where(AuthEvent.partner_id == "bank-app")) == 3


def test_otp_sending_is_rate_limited_per_relying_party(world, platform):
    uin, rp, other, sms = world
    platform.settings.otp_send_limit = "2/minute"
    body = {"individual_id": uin, "transaction_id": "t", "channels": ["sms"]}
    assert [rp.post("/identity/v1/otp", json=body).status_code for _ in range(3)] == [200, 200, 429]
    assert len(sms.messages(AMINA["phone"])) == 2
    assert other.post("/identity/v1/otp", json=body).status_code == 200
