"""Residents: log in with OTP, see the record and the authentication history, lock
authentication types, manage VIDs, change contact details with OTP confirmation."""

from __future__ import annotations

import re

import pytest

from .test_authentication import auth, world  # noqa: F401  (fixture)
from .test_enrolment import AMINA

BIRTH = {"demographics": {"birth_date": "1990-04-12"}}


def last_code(channel, to) -> str:
    return re.search(r"\b(\d{6})\b", channel.messages(to)[-1]["message"]).group(1)


@pytest.fixture
def resident(world, client):
    uin, rp, other, sms = world
    assert client.post("/resident/v1/login/otp", json={"individual_id": uin, "transaction_id": "r1"}).status_code == 200
    r = client.post("/resident/v1/login", json={"individual_id": uin, "transaction_id": "r1",
                                                 "otp": last_code(sms, AMINA["phone"])})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_login_needs_the_right_code_and_a_session(world, client):
    uin, _, _, sms = world
    client.post("/resident/v1/login/otp", json={"individual_id": uin, "transaction_id": "r1"})
    wrong = client.post("/resident/v1/login", json={"individual_id": uin, "transaction_id": "r1", "otp": "000000"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    assert client.get("/resident/v1/me").status_code == 401
    assert client.get("/resident/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_record_history_and_logout(world, resident, client):
    uin, rp, _, _ = world
    assert auth(rp, uin, **BIRTH)["authenticated"]
    me = client.get("/resident/v1/me", headers=resident).json()
    assert me["uin"] == uin and me["names"] == AMINA["names"] and me["phone"] == AMINA["phone"]
    history = client.get("/resident/v1/auth-history", headers=resident).json()
    assert [(h["relying_party"], h["purpose"], h["outcome"]) for h in history[:2]] == [
        ("bank-app", "authentication", "success"), ("resident-portal", "resident login", "success")]
    assert client.post("/resident/v1/logout", headers=resident).status_code == 204
    assert client.get("/resident/v1/me", headers=resident).status_code == 401


def test_locked_authentication_type_refuses_relying_parties(world, resident, client):
    uin, rp, _, sms = world
    locked = client.put("/resident/v1/auth-locks", headers=resident, json={"demographics": True})
    assert locked.json() == {"otp": False, "demographics": True, "biometrics": False}
    assert not auth(rp, uin, **BIRTH)["authenticated"]
    code = rp.post("/identity/v1/otp", json={"individual_id": uin, "transaction_id": "t5", "channels": ["sms"]})
    assert code.status_code == 200 and auth(rp, uin, txn="t5", otp=last_code(sms, AMINA["phone"]))["authenticated"]
    history = client.get("/resident/v1/auth-history", headers=resident).json()
    assert "blocked" in [h["outcome"] for h in history]
    client.put("/resident/v1/auth-locks", headers=resident, json={"demographics": False})
    assert auth(rp, uin, txn="t6", **BIRTH)["authenticated"]


def test_vids_of_my_own(world, resident, client, actors):
    uin, rp, _, _ = world
    made = client.post("/resident/v1/vids", headers=resident, json={"vid_type": "perpetual"})
    assert made.status_code == 201
    vid = made.json()["vid"]
    assert [v["vid"] for v in client.get("/resident/v1/me", headers=resident).json()["vids"]] == [vid]
    assert auth(rp, vid, individual_id_type="VID", **BIRTH)["authenticated"]
    assert client.post(f"/resident/v1/vids/{vid}/revoke", headers=resident).json()["status"] == "revoked"
    assert not auth(rp, vid, txn="t2", individual_id_type="VID", **BIRTH)["authenticated"]
    # Someone else's VID cannot be revoked from my session.
    office = actors("auth-registry")
    theirs = office.post("/identity/v1/enrolments", json={
        **AMINA, "names": [{"language": "en", "given": "Juma", "family": "Otieno"}], "sex": "male",
        "birth_date": "1975-01-30", "request_id": "other"}).json()["uin"]
    their_vid = office.post("/identity/v1/vids", json={"uin": theirs, "vid_type": "perpetual"}).json()["vid"]
    assert client.post(f"/resident/v1/vids/{their_vid}/revoke", headers=resident).status_code == 404


def test_phone_change_is_confirmed_on_the_new_phone(world, resident, client):
    uin, _, _, sms = world
    change = client.post("/resident/v1/contact-changes", headers=resident,
                         json={"field": "phone", "value": "+254711111111"}).json()
    wrong = client.post(f"/resident/v1/contact-changes/{change['change_id']}/confirm", headers=resident,
                        json={"otp": "000000"})
    assert wrong.status_code == 401
    assert client.get("/resident/v1/me", headers=resident).json()["phone"] == AMINA["phone"]
    ok = client.post(f"/resident/v1/contact-changes/{change['change_id']}/confirm", headers=resident,
                     json={"otp": last_code(sms, "+254711111111")})
    assert ok.status_code == 200 and ok.json()["status"] == "applied"
    assert client.get("/resident/v1/me", headers=resident).json()["phone"] == "+254711111111"
    again = client.post(f"/resident/v1/contact-changes/{change['change_id']}/confirm", headers=resident,
                        json={"otp": "123456"})
    assert again.status_code == 404


def test_address_change_is_confirmed_on_the_phone_on_record(world, resident, client):
    _, _, _, sms = world
    change = client.post("/resident/v1/contact-changes", headers=resident,
                         json={"field": "address", "value": "12 Moi Avenue, Nairobi"}).json()
    client.post(f"/resident/v1/contact-changes/{change['change_id']}/confirm", headers=resident,
                json={"otp": last_code(sms, AMINA["phone"])})
    assert client.get("/resident/v1/me", headers=resident).json()["address"] == "12 Moi Avenue, Nairobi"
    bad = client.post("/resident/v1/contact-changes", headers=resident, json={"field": "phone", "value": "0711"})
    assert bad.status_code == 422
