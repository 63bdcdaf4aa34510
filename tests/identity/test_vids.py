"""Virtual IDs: created by a registration office, one active per type, revocable, expiring,
temporary ones good for one authentication; authentication by VID gives the UIN's token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from dpistack.core.timeutil import utcnow
from dpistack.identity import numbers
from dpistack.identity.models import VirtualId

from .test_authentication import auth, world  # noqa: F401  (fixture)
from .test_enrolment import AMINA


@pytest.fixture
def office(actors):
    return actors("auth-registry")


def new_vid(office, uin, vid_type="perpetual"):
    r = office.post("/identity/v1/vids", json={"uin": uin, "vid_type": vid_type})
    assert r.status_code == 201, r.text
    return r.json()


def vid_auth(rp, vid, txn="v1", **factors):
    return auth(rp, vid, txn=txn, individual_id_type="VID", **factors)


def test_vid_authenticates_as_the_person_and_gives_the_same_partner_token(world, office):
    uin, rp, _, sms = world
    vid = new_vid(office, uin)
    assert numbers.is_valid_vid(vid["vid"]) and vid["status"] == "active" and vid["expires_at"] is None
    by_uin = auth(rp, uin, demographics={"birth_date": "1990-04-12"})
    by_vid = vid_auth(rp, vid["vid"], demographics={"birth_date": "1990-04-12"})
    assert by_vid["authenticated"] and by_vid["token"] == by_uin["token"]
    # OTP by VID reaches the person's phone, and the code works with the VID.
    r = rp.post("/identity/v1/otp", json={"individual_id": vid["vid"], "individual_id_type": "VID",
                                           "transaction_id": "v2", "channels": ["sms"]})
    assert r.status_code == 200
    code = re.search(r"\b(\d{6})\b", sms.messages(AMINA["phone"])[-1]["message"]).group(1)
    assert vid_auth(rp, vid["vid"], txn="v2", otp=code)["authenticated"]
    # A VID is not a UIN: naming it with the wrong type fails.
    assert not auth(rp, vid["vid"], demographics={"birth_date": "1990-04-12"})["authenticated"]


def test_one_active_vid_per_type_and_revocation(world, office, platform):
    uin, rp, _, _ = world
    first = new_vid(office, uin)["vid"]
    second = new_vid(office, uin)["vid"]
    temporary = new_vid(office, uin, "temporary")["vid"]
    assert len({first, second, temporary}) == 3
    with platform.db.uow() as s:
        statuses = {v.vid: v.status for v in s.query(VirtualId).filter_by(uin=uin)}
    assert statuses == {first: "revoked", second: "active", temporary: "active"}
    assert not vid_auth(rp, first, demographics={"birth_date": "1990-04-12"})["authenticated"]
    revoked = office.post(f"/identity/v1/vids/{second}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert not vid_auth(rp, second, demographics={"birth_date": "1990-04-12"})["authenticated"]
    unknown = office.post(f"/identity/v1/vids/{numbers.generate_vid()}/revoke")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_temporary_vid_is_good_for_one_authentication_and_expires(world, office, platform):
    uin, rp, _, _ = world
    temporary = new_vid(office, uin, "temporary")
    assert temporary["transactions_left"] == 1 and temporary["expires_at"]
    assert vid_auth(rp, temporary["vid"], demographics={"birth_date": "1990-04-12"})["authenticated"]
    assert not vid_auth(rp, temporary["vid"], txn="v2", demographics={"birth_date": "1990-04-12"})["authenticated"]

    later = new_vid(office, uin, "temporary")["vid"]
    with platform.db.uow(write=True) as s:
        s.execute(update(VirtualId).where(VirtualId.vid == later)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not vid_auth(rp, later, txn="v3", demographics={"birth_date": "1990-04-12"})["authenticated"]


def test_vids_need_a_registration_office_and_a_known_uin(world, office):
    uin, rp, _, _ = world
    assert rp.post("/identity/v1/vids", json={"uin": uin, "vid_type": "perpetual"}).status_code == 403
    stranger = office.post("/identity/v1/vids", json={"uin": numbers.generate_uin(), "vid_type": "perpetual"})
    assert stranger.status_code == 404
    bad = office.post("/identity/v1/vids", json={"uin": uin, "vid_type": "forever"})
    assert bad.status_code == 422
