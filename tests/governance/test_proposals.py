"""Governance: changes take effect only with the approvals the rules require."""

from __future__ import annotations

from sqlalchemy import func, select, text

from dpistack.governance import credentials, service
from dpistack.governance.client import onboarding_payload
from dpistack.governance.models import Approval, Participant
from dpistack.governance.setup import init_instance
from dpistack.transparency.models import LogEntry


def _log_size(platform) -> int:
    with platform.db.uow() as s:
        return s.scalar(select(func.count()).select_from(LogEntry))


def test_init_creates_authorities_once_and_logs_the_genesis(actors, platform):
    assert init_instance(platform) == []  # already initialised by the fixture: nothing changes
    with platform.db.uow() as s:
        authorities = service.list_participants(s, kind="authority")
        first = s.get(LogEntry, 0)
    assert {a.id for a in authorities} == {"digital-agency", "identity-authority", "central-bank",
                                           "data-protection-authority"}
    assert all(a.status == "active" for a in authorities)
    assert b'"type":"governance.genesis"' in first.entry


def test_bank_is_onboarded_only_after_the_payments_regulator_approves(actors, client, platform):
    proposal = actors.propose_onboarding("first-bank", "bank", ["fsp"])
    assert proposal["status"] == "open" and proposal["required"] == ["role:payments-regulator"]
    bank = actors("first-bank")

    # Pending: it cannot authenticate.
    pending = bank.request_token()
    assert pending.status_code == 401 and "pending" in pending.json()["error_description"]

    # Another authority's approval does not count and writes nothing.
    before = _log_size(platform)
    wrong = actors("identity-authority").decide(proposal)
    assert wrong.status_code == 403 and "not one this proposal needs" in wrong.json()["detail"]
    assert _log_size(platform) == before
    with platform.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Approval)) == 0

    done = actors("central-bank").decide(proposal)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "enacted" and done.json()["missing"] == []
    assert bank.request_token().status_code == 200
    # Submission, approval and enactment are all in the transparency log.
    assert _log_size(platform) == before + 2


def test_approvals_must_be_signed_by_the_caller_for_exactly_this_proposal(actors, client, platform):
    proposal = actors.propose_onboarding("second-bank", "bank", ["fsp"])
    regulator = actors("central-bank")
    key = regulator.key
    path = f"/governance/v1/proposals/{proposal['id']}/approvals"

    tampered = credentials.sign_approval("central-bank", key, proposal["id"], "0" * 64)
    r = regulator.post(path, json={"jws": tampered})
    assert r.status_code == 422 and "digest" in r.json()["detail"]

    other_key = credentials.sign_approval("central-bank", credentials.new_key(), proposal["id"], proposal["digest"])
    assert regulator.post(path, json={"jws": other_key}).status_code == 422

    # Signed by the regulator but sent by someone else: the signer must be the caller.
    genuine = credentials.sign_approval("central-bank", key, proposal["id"], proposal["digest"])
    r = actors("digital-agency").post(path, json={"jws": genuine})
    assert r.status_code == 422

    r = regulator.post(path, json={"jws": "not.a.jws"})
    assert r.status_code == 422
    with platform.db.uow() as s:
        assert s.get(Participant, "second-bank").status == "pending"

    assert regulator.post(path, json={"jws": genuine}).json()["status"] == "enacted"
    # Sending the same approval again is harmless (idempotent); a different one is a conflict.
    again = regulator.post(path, json={"jws": genuine})
    assert again.status_code == 200 and again.json()["status"] == "enacted"
    assert regulator.decide(proposal, "reject").status_code == 409


def test_a_required_authority_can_veto(actors, platform):
    proposal = actors.propose_onboarding("shady-bank", "bank", ["fsp"])
    r = actors("central-bank").decide(proposal, "reject")
    assert r.json()["status"] == "rejected"
    assert actors("shady-bank").request_token().status_code == 401
    with platform.db.uow() as s:
        assert s.get(Participant, "shady-bank").status == "rejected"


def test_health_data_access_needs_both_the_dpa_and_the_data_owner(actors, client):
    moh = actors.onboard("ministry-of-health", "ministry", ["data-provider"], ["digital-agency"])
    agency = actors.onboard("social-agency", "agency", ["data-consumer"], ["digital-agency"])

    def decision():
        r = agency.post("/governance/v1/decisions", json={
            "action": "data:read", "resource_type": "DataCategory", "resource_id": "health@ministry-of-health"})
        assert r.status_code == 200
        return r.json()["decision"]

    assert decision() == "deny"
    grant = agency.propose("access.grant", {"participant_id": "social-agency", "action": "data:read",
                                            "category": "health", "owner_id": "ministry-of-health",
                                            "purpose": "means-testing of disability benefit"}).json()
    assert grant["required"] == ["participant:ministry-of-health", "role:data-protection-authority"]
    after_dpa = actors("data-protection-authority").decide(grant).json()
    assert after_dpa["status"] == "open" and after_dpa["missing"] == ["participant:ministry-of-health"]
    assert decision() == "deny"  # half a quorum changes nothing
    assert moh.decide(grant).json()["status"] == "enacted"
    assert decision() == "allow"


def test_suspension_cuts_off_tokens_and_calls(actors, client):
    bank = actors.onboard("third-bank", "bank", ["fsp"], ["central-bank"])
    token = bank.token()
    proposal = actors("digital-agency").propose(
        "participant.suspend", {"participant_id": "third-bank", "reason": "failed liquidity audit"}).json()
    assert proposal["required"] == ["role:payments-regulator"]
    assert actors("central-bank").decide(proposal).json()["status"] == "enacted"
    # An already-issued token stops working at once: policy checks status on every call.
    r = client.get("/governance/v1/participants", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert bank.request_token().status_code == 401


def test_policy_changes_need_quorum_and_then_apply(actors, client):
    bank = actors.onboard("fourth-bank", "bank", ["fsp"], ["central-bank"])
    operator = actors("digital-agency")
    bad = operator.propose("policy.change", {"policies": "permit(principal, action, resource) when {", "summary": "x"})
    assert bad.status_code == 422 and "do not parse" in bad.json()["detail"]

    current = operator.get("/governance/v1/policies").json()
    stricter = current["policies"] + (
        '\n@id("banks-cannot-read-registry")\n'
        'forbid (principal, action == Action::"governance:read", resource) when { principal.kind == "bank" };\n')
    proposal = operator.propose("policy.change", {"policies": stricter, "summary": "banks stop reading"}).json()
    assert proposal["required"] == ["role:data-protection-authority", "role:platform-operator"]
    assert operator.decide(proposal).json()["status"] == "open"
    assert bank.get("/governance/v1/participants").status_code == 200  # not yet in force
    assert actors("data-protection-authority").decide(proposal).json()["status"] == "enacted"
    assert bank.get("/governance/v1/participants").status_code == 403
    assert operator.get("/governance/v1/policies").json()["version"] == current["version"] + 1


def test_invalid_proposals_are_refused_with_nothing_written(actors, platform):
    operator = actors("digital-agency")
    before = _log_size(platform)
    key = credentials.new_key()
    cases = [
        ("participant.onboard", {"id": "Bad Id!", "name": "x", "kind": "bank", "roles": ["fsp"],
                                 "jwks": {"keys": [credentials.public_jwk(key)]}}),
        ("participant.onboard", onboarding_payload("priv-bank", "P", "bank", ["fsp"], key)
         | {"jwks": {"keys": [key.as_dict(private=True)]}}),
        ("participant.onboard", onboarding_payload("role-bank", "R", "bank", ["payments-regulator"], key)),
        ("participant.suspend", {"participant_id": "nobody", "reason": "x"}),
        ("participant.suspend", {"participant_id": "central-bank", "reason": "x"}),
        ("rules.change", {"rules": {"participant.onboard": {"default": []}}, "summary": "x"}),
        ("no.such.kind", {}),
    ]
    for kind, payload in cases:
        r = operator.propose(kind, payload)
        assert 400 <= r.status_code < 500, (kind, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert _log_size(platform) == before
    with platform.db.uow() as s:
        assert s.get(Participant, "priv-bank") is None and s.get(Participant, "role-bank") is None
    # Onboarding an id twice is a conflict.
    actors.propose_onboarding("dup-bank", "bank", ["fsp"])
    again = operator.propose("participant.onboard", onboarding_payload("dup-bank", "D", "bank", ["fsp"],
                                                                       credentials.new_key()))
    assert again.status_code == 409


def test_governance_check_holds_and_catches_tampering(actors, platform):
    actors.onboard("fifth-bank", "bank", ["fsp"], ["central-bank"])
    open_one = actors.propose_onboarding("sixth-bank", "bank", ["fsp"])
    with platform.db.uow() as s:
        assert service.check(s) == []
    # Someone edits the database behind governance's back: the check notices.
    with platform.db.uow(write=True) as s:
        s.execute(text("UPDATE participants SET status='active' WHERE id='sixth-bank'"))
        s.execute(text("UPDATE proposals SET status='enacted' WHERE id=:id"), {"id": open_one["id"]})
    with platform.db.uow() as s:
        problems = service.check(s)
    assert any("without quorum" in p for p in problems)


def test_keys_are_registered_and_revoked_only_through_governance(actors, client):
    bank = actors.onboard("key-bank", "bank", ["fsp"], ["central-bank"])
    new_key = credentials.new_key()
    operator = actors("digital-agency")
    proposal = operator.propose("participant.key.register",
                                {"participant_id": "key-bank", "jwk": credentials.public_jwk(new_key)}).json()
    assert proposal["required"] == ["role:platform-operator"]
    with_new_key = actors("key-bank", new_key)
    assert with_new_key.request_token().status_code == 401  # not yet registered
    assert operator.decide(proposal).json()["status"] == "enacted"
    assert with_new_key.request_token().status_code == 200

    revoke = operator.propose("participant.key.revoke", {"participant_id": "key-bank", "kid": bank.key.kid}).json()
    assert operator.decide(revoke).json()["status"] == "enacted"
    assert actors("key-bank").request_token().status_code == 401  # the old key no longer authenticates
    assert with_new_key.request_token().status_code == 200


def test_grants_can_be_revoked_and_participants_reactivated(actors):
    owner = actors.onboard("land-registry", "registry", ["data-provider"], ["digital-agency"])
    reader = actors.onboard("tax-office", "agency", ["data-consumer"], ["digital-agency"])

    def decision():
        return reader.post("/governance/v1/decisions", json={
            "action": "data:read", "resource_type": "DataCategory", "resource_id": "parcels@land-registry"}).json()

    grant = reader.propose("access.grant", {"participant_id": "tax-office", "action": "data:read",
                                            "category": "parcels", "owner_id": "land-registry",
                                            "purpose": "property tax"}).json()
    assert grant["required"] == ["participant:land-registry"]  # not a sensitive category: the owner decides
    assert owner.decide(grant).json()["status"] == "enacted"
    assert decision()["decision"] == "allow"
    grant_id = reader.get("/governance/v1/grants", params={"participant_id": "tax-office"}).json()[0]["id"]
    revoke = reader.propose("access.revoke", {"grant_id": grant_id, "reason": "purpose ended"}).json()
    assert actors("data-protection-authority").decide(revoke).json()["status"] == "enacted"
    assert decision()["decision"] == "deny"

    operator = actors("digital-agency")
    suspend = operator.propose("participant.suspend", {"participant_id": "tax-office", "reason": "audit"}).json()
    operator.decide(suspend)
    again = operator.propose("participant.reactivate", {"participant_id": "tax-office", "reason": "audit passed"})
    assert operator.decide(again.json()).json()["status"] == "enacted"
    assert actors("tax-office").request_token().status_code == 200


def test_rules_change_needs_every_authority(actors, client):
    operator = actors("digital-agency")
    rules = operator.get("/governance/v1/rules").json()
    new_rules = dict(rules["rules"])
    new_rules["participant.key.register"] = {"default": ["role:platform-operator", "role:identity-authority"]}
    proposal = operator.propose("rules.change", {"rules": new_rules, "summary": "two eyes on keys"}).json()
    assert len(proposal["required"]) == 4
    for authority in ("digital-agency", "identity-authority", "central-bank"):
        assert actors(authority).decide(proposal).json()["status"] == "open"
    assert actors("data-protection-authority").decide(proposal).json()["status"] == "enacted"
    assert operator.get("/governance/v1/rules").json()["version"] == rules["version"] + 1
    key = credentials.new_key()
    later = operator.propose("participant.key.register",
                             {"participant_id": "central-bank", "jwk": credentials.public_jwk(key)}).json()
    assert later["required"] == ["role:identity-authority", "role:platform-operator"]
