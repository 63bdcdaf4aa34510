"""Consent artefacts at the service layer: signed RFC 8785 revisions, chained by hash, and a
check that finds any rewritten byte, broken link or forged signature."""

from __future__ import annotations

import json

import rfc8785
from sqlalchemy import update

from dpistack.consent import service
from dpistack.consent.models import ConsentRevision
from dpistack.consent.schemas import ConsentRequest
from dpistack.governance.models import Participant

PERSON = "a" * 32


def _consent(platform) -> str:
    with platform.db.uow(write=True) as s:
        s.add(Participant(id="clinic", name="Clinic", kind="agency", roles=["data-consumer"], status="active",
                          endpoints={}))
        request = ConsentRequest(provider="registry", purpose={"code": "care", "text": "care"}, data_types=["x"],
                                 valid_from="2020-01-01T00:00:00Z", valid_to="2099-01-01T00:00:00Z")
        consent_id = service.request_consent(s, platform, "clinic", request)["artefact"]["consentId"]
    with platform.db.uow(write=True) as s:
        service.approve(s, platform, consent_id, PERSON)
    with platform.db.uow(write=True) as s:
        service.revoke(s, platform, consent_id, PERSON)
    return consent_id


def test_revisions_are_canonical_signed_and_chained(sqlite_platform):
    platform = sqlite_platform
    consent_id = _consent(platform)
    with platform.db.uow() as s:
        revs = service.revisions(s, consent_id)
    assert [json.loads(r.artefact)["status"] for r in revs] == ["REQUESTED", "ACTIVE", "REVOKED"]
    for rev in revs:
        body = json.loads(rev.artefact)
        assert rfc8785.dumps(body) == bytes(rev.artefact)  # exactly the canonical form is signed
        header, _, signature = rev.jws.partition("..")
        assert header and signature and service.verify_detached(platform, rev.jws, bytes(rev.artefact))
        assert not service.verify_detached(platform, rev.jws, bytes(rev.artefact) + b" ")
    assert json.loads(revs[1].artefact)["previousHash"] == revs[0].hash
    assert json.loads(revs[0].artefact)["DataPrincipal"] == {"id": None}  # nobody until a person approves
    assert json.loads(revs[1].artefact)["DataPrincipal"] == {"id": PERSON}
    assert service.check(platform) == []


def test_check_finds_rewritten_revisions(sqlite_platform):
    platform = sqlite_platform
    consent_id = _consent(platform)
    with platform.db.uow() as s:
        second = service.revisions(s, consent_id)[1]
        body = json.loads(second.artefact)
    body["Purpose"]["text"] = "marketing"
    forged = rfc8785.dumps(body)
    with platform.db.uow(write=True) as s:
        s.execute(update(ConsentRevision).where(ConsentRevision.consent_id == consent_id,
                                                ConsentRevision.revision == 2).values(artefact=forged))
    problems = service.check(platform)
    assert any("hash does not match" in p for p in problems)
    assert any("signature does not verify" in p for p in problems)
