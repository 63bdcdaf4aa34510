"""Personal data through the mediator: consent given by the person logged in with the national
ID, checked on every request, revoked and refused at the next one; the exchange in the
transparency log in the same commit as the message log; the person's data tracker."""

from __future__ import annotations

import base64
import json

from sqlalchemy import func, select, text

from dpistack.consent import service as consent_service
from dpistack.exchange import messagelog
from dpistack.exchange.models import LogRecord
from dpistack.identity.service import IdentityContext
from dpistack.transparency import merkle, note
from dpistack.transparency import service as tlog
from dpistack.transparency.models import LogEntry

from .conftest import PERSONAL, ask_consent, call, grant
from .test_mediator import xroad_error


def test_consent_lifecycle_enforced_by_the_mediator(country, actors, person, client, platform, backend):
    registry, ministry = country
    grant(actors, registry)
    xroad_error(call(ministry, PERSONAL + "/me"), 403, "Server.ServerProxy.ConsentRequired")
    consent_id = ask_consent(ministry)
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id}), 403,
                "Server.ServerProxy.ConsentNotApproved")
    # the person sees the request and approves it
    seen = client.get(f"/consent/v1/consents/{consent_id}", headers=person["consent"])
    assert seen.status_code == 200 and seen.json()["status"] == "REQUESTED"
    approved = client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["consent"])
    assert approved.status_code == 200, approved.text
    artefact = approved.json()["artefact"]
    pseudonym = IdentityContext.of(platform).pseudonym(person["uin"])
    assert artefact["DataPrincipal"]["id"] == pseudonym and person["uin"] not in json.dumps(artefact)
    assert artefact["status"] == "ACTIVE" and artefact["Purpose"]["code"] == "care"

    before = tlog.tree(platform).size
    ok = call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id})
    assert ok.status_code == 200, ok.text
    assert backend.last()["headers"]["x-consent-id"] == consent_id
    with platform.db.uow() as s:
        about = [json.loads(e) for e in s.scalars(select(LogEntry.entry).where(LogEntry.subject == pseudonym))]
        [entry] = [e for e in about if e["accessor"] == "ministry-of-health"]
        record = s.scalar(select(LogRecord).where(LogRecord.consent_id == consent_id))
    assert entry["accessor"] == "ministry-of-health" and entry["consent_id"] == consent_id
    assert entry["categories"] == ["civil-records"] and "care" in entry["purpose"]
    assert record.status == 200 and tlog.tree(platform).size == before + 1

    # a consent for another consumer, or another service, does not stretch
    assert client.post(f"/consent/v1/consents/{consent_id}/revoke", headers=person["consent"]).status_code == 200
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id}), 403,
                "Server.ServerProxy.ConsentRevoked")
    assert consent_service.check(platform) == [] and messagelog.check(platform) == []
    revisions = client.get(f"/consent/v1/consents/{consent_id}/revisions", headers=person["consent"]).json()
    assert [json.loads(r["artefact"])["status"] for r in revisions] == ["REQUESTED", "ACTIVE", "REVOKED"]
    assert json.loads(revisions[2]["artefact"])["previousHash"] == revisions[1]["hash"]


def test_consents_do_not_stretch(country, actors, person, client, platform):
    registry, ministry = country
    grant(actors, registry)
    other = ask_consent(ministry, services=["DPI/GOV/civil-registry/registry/births"])
    client.post(f"/consent/v1/consents/{other}/approve", headers=person["consent"])
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": other}), 403,
                "Server.ServerProxy.ConsentRefused")
    expired = ask_consent(ministry, valid_from="2020-01-01T00:00:00Z", valid_to="2099-01-01T00:00:00Z")
    client.post(f"/consent/v1/consents/{expired}/approve", headers=person["consent"])
    with platform.db.uow(write=True) as s:
        s.execute(text("UPDATE consent_artefacts SET valid_to = '2021-01-01 00:00:00.000000' WHERE id = :id"),
                  {"id": expired})
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": expired}), 403,
                "Server.ServerProxy.ConsentExpired")
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": "not-a-consent"}), 403,
                "Server.ServerProxy.ConsentUnknown")
    # another consumer cannot use (or even check) the ministry's consent
    school = actors.onboard("ministry-of-education", "ministry", ["data-consumer"], ["digital-agency"])
    grant(actors, registry, consumer="ministry-of-education")
    live = ask_consent(ministry)
    client.post(f"/consent/v1/consents/{live}/approve", headers=person["consent"])
    r = call(school, PERSONAL + "/me", client_id="DPI/GOV/ministry-of-education", headers={"X-Consent-Id": live})
    xroad_error(r, 403, "Server.ServerProxy.ConsentRefused")
    spy = school.post("/consent/v1/check", json={"consent_id": live, "consumer": "ministry-of-health",
                                                 "provider": "civil-registry", "service": "x"})
    assert spy.status_code == 403


def test_the_person_and_only_the_person_decides(country, person, client, actors):
    registry, ministry = country
    consent_id = ask_consent(ministry)
    assert client.post(f"/consent/v1/consents/{consent_id}/approve", headers=ministry.headers).status_code == 401
    assert client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["session"]).status_code == 401
    assert client.post(f"/consent/v1/consents/{consent_id}/revoke", headers=person["consent"]).status_code == 409
    assert client.post(f"/consent/v1/consents/{consent_id}/reject", headers=person["consent"]).json()["status"] == \
        "REJECTED"
    assert client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["consent"]).status_code == 409
    mine = client.get("/consent/v1/consents", headers=person["consent"]).json()
    assert [c["id"] for c in mine] == [consent_id]
    theirs = ministry.get("/consent/v1/consents").json()
    assert [c["id"] for c in theirs] == [consent_id]
    assert registry.get(f"/consent/v1/consents/{consent_id}").status_code == 200  # the provider is party to it
    bad = ministry.post("/consent/v1/consents", json={"provider": "civil-registry", "purpose": {"code": "x", "text": "y"},
                                                      "data_types": ["a"], "valid_from": "2030-01-01T00:00:00Z",
                                                      "valid_to": "2029-01-01T00:00:00Z"})
    assert bad.status_code == 422
    assert registry.post("/consent/v1/consents", json={}).status_code in (403, 422)


def test_a_legal_basis_in_policy_replaces_consent_and_names_the_person(country, actors, person, platform):
    registry, ministry = country
    grant(actors, registry)
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Data-Subject": person["uin"]}), 403,
                "Server.ServerProxy.ConsentRequired")
    policies = ministry.get("/governance/v1/policies").json()["policies"] + """
@id("public-health-act-s12")
permit (principal == Participant::"ministry-of-health", action == Action::"exchange:legal-basis",
        resource == DataCategory::"civil-records@civil-registry");
"""
    proposal = actors("digital-agency").propose("policy.change", {"policies": policies, "summary": "Public Health Act s.12: birth records for care"}).json()
    assert "id" in proposal, proposal
    for approver in ("digital-agency", "data-protection-authority"):
        r = actors(approver).decide(proposal)
    assert r.json()["status"] == "enacted", r.text
    xroad_error(call(ministry, PERSONAL + "/me"), 400, "Client.BadRequest")  # who is it about?
    ok = call(ministry, PERSONAL + "/me", headers={"X-Data-Subject": person["uin"]})
    assert ok.status_code == 200, ok.text
    pseudonym = IdentityContext.of(platform).pseudonym(person["uin"])
    [entry] = [json.loads(blob) for _, blob in tlog.entries_about(platform, pseudonym)
               if json.loads(blob)["accessor"] == "ministry-of-health"]
    assert entry["legal_basis"] == "policy:public-health-act-s12"


def test_the_data_tracker_lists_every_access_with_checked_proofs(country, actors, person, client, platform, tmp_path):
    registry, ministry = country
    grant(actors, registry)
    consent_id = ask_consent(ministry)
    client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["consent"])
    for _ in range(2):
        assert call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id}).status_code == 200
    usage = client.get("/resident/v1/data-usage", headers=person["session"])
    assert usage.status_code == 200, usage.text
    body = usage.json()
    via_mediator = [e for e in body["entries"] if e["accessor"] == "ministry-of-health"]
    assert len(via_mediator) == 2 and all(e["consent_id"] == consent_id for e in via_mediator)
    accessors = {e["accessor"] for e in body["entries"]}
    assert "civil-registry" in accessors  # the enrolment itself is an access too
    assert all(e["verified"] for e in body["entries"])
    # checked independently here: the checkpoint's signature, and each proof against its root
    key = tlog.verifier_key(platform)
    note.verify_note(body["checkpoint"], key)
    checkpoint = note.parse_checkpoint(body["checkpoint"])
    assert checkpoint.size == body["tree_size"]
    for e in body["entries"]:
        leaf = merkle.hash_leaf(base64.b64decode(e["entry"]))
        proof = [base64.b64decode(h) for h in e["inclusion_proof"]]
        assert merkle.verify_inclusion(leaf, e["index"], checkpoint.size, proof, checkpoint.root)
    assert client.get("/resident/v1/data-usage").status_code == 401
    assert client.get("/resident/v1/data-usage", headers=person["consent"]).status_code == 401


def test_the_person_verifies_their_saved_data_usage_with_dpi(country, actors, person, client, platform, tmp_path):
    from typer.testing import CliRunner

    from dpistack.cli import app as dpi

    registry, ministry = country
    grant(actors, registry)
    consent_id = ask_consent(ministry)
    client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["consent"])
    assert call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id}).status_code == 200
    saved = tmp_path / "usage.json"
    saved.write_text(client.get("/resident/v1/data-usage", headers=person["session"]).text)
    assert call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id}).status_code == 200  # log grows
    runner = CliRunner()
    data_dir = str(platform.settings.data_dir)
    ok = runner.invoke(dpi, ["transparency", "verify", "--usage", str(saved), "--data-dir", data_dir])
    assert ok.exit_code == 0, ok.output
    assert "accesses to your data are in the log" in ok.output
    answer = json.loads(saved.read_text())
    answer["entries"][0]["purpose"] = "something nicer"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(answer))
    bad = runner.invoke(dpi, ["transparency", "verify", "--usage", str(forged), "--data-dir", data_dir])
    assert bad.exit_code == 1 and "differs" in bad.output
    answer = json.loads(saved.read_text())
    blob = json.loads(base64.b64decode(answer["entries"][0]["entry"]))
    blob["accessor"] = "nobody"
    answer["entries"][0]["entry"] = base64.b64encode(json.dumps(blob).encode()).decode()
    forged.write_text(json.dumps(answer))
    bad = runner.invoke(dpi, ["transparency", "verify", "--usage", str(forged), "--data-dir", data_dir])
    assert bad.exit_code == 1 and "not in the log" in bad.output
    for block in ("exchange", "consent"):
        checked = runner.invoke(dpi, [block, "check", "--data-dir", data_dir])
        assert checked.exit_code == 0, checked.output


def test_fetch_type_and_frequency_are_enforced(country, actors, person, client):
    registry, ministry = country
    grant(actors, registry)
    once = ask_consent(ministry, fetch_type="ONETIME")
    client.post(f"/consent/v1/consents/{once}/approve", headers=person["consent"])
    assert call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": once}).status_code == 200
    xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": once}), 403,
                "Server.ServerProxy.ConsentUsedUp")
    twice_a_day = ask_consent(ministry, frequency={"unit": "DAY", "value": 2})
    client.post(f"/consent/v1/consents/{twice_a_day}/approve", headers=person["consent"])
    for _ in range(2):
        assert call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": twice_a_day}).status_code == 200
    r = xroad_error(call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": twice_a_day}), 403,
                    "Server.ServerProxy.ConsentFrequencyExceeded")
    assert "2 exchanges per day" in r["message"]
