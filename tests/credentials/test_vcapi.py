"""The VC-API: issuing W3C VC 2.0 with eddsa-rdfc-2022, verifying credentials and
presentations, Bitstring Status Lists, and each refusal with its own code."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpistack.credentials import contexts, dataintegrity as di, didkey, statuslist

from .people import enact, trust_did

SUBJECT = {"id": "did:example:amina", "given_name": "Amina", "family_name": "Hassan",
           "birthdate": "1990-04-12", "age_over_18": True}


def unsigned(**extra) -> dict:
    return {"@context": [contexts.CREDENTIALS_V2, contexts.DPISTACK_V1],
            "type": ["VerifiableCredential", "NationalIdCredential"],
            "credentialSubject": dict(SUBJECT), **extra}


@pytest.fixture
def agent(actors):
    return actors.onboard("vc-issuer", "agency", ["credential-issuer"], ["identity-authority"])


def issue(agent, credential=None, **options):
    r = agent.post("/credentials/issue", json={"credential": credential or unsigned(), "options": options})
    assert r.status_code == 201, r.text
    return r.json()["verifiableCredential"]


def verify(client, credential):
    r = client.post("/credentials/verify", json={"verifiableCredential": credential, "options": {}})
    assert r.status_code == 200, r.text
    return r.json()


def codes(result):
    return [e["code"] for e in result["errors"]]


def test_issue_and_verify(agent, client):
    signed = issue(agent)
    proof = signed["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofValue"].startswith("z") and proof["proofPurpose"] == "assertionMethod"
    assert signed["issuer"].startswith("did:key:z6Mk")
    assert proof["verificationMethod"] == f"{signed['issuer']}#{signed['issuer'].removeprefix('did:key:')}"
    assert signed["id"].startswith("urn:uuid:") and signed["validFrom"] and signed["validUntil"]
    assert [s["statusPurpose"] for s in signed["credentialStatus"]] == ["revocation", "suspension"]
    result = verify(client, signed)
    assert result == {"verified": True, "checks": ["proof", "issuer", "validity", "credentialStatus"],
                      "warnings": [], "errors": []}


def test_issue_as_did_web(agent, client):
    did = client.get("/.well-known/did.json").json()
    assert did["id"] == "did:web:testserver" and did["verificationMethod"][0]["type"] == "Multikey"
    signed = issue(agent, issuer="did:web:testserver")
    assert signed["issuer"] == "did:web:testserver"
    assert signed["proof"]["verificationMethod"].startswith("did:web:testserver#")
    assert verify(client, signed)["verified"] is True


def test_who_may_issue(actors, client, agent):
    assert client.post("/credentials/issue", json={"credential": unsigned()}).status_code == 401
    other = actors.onboard("a-bank", "bank", ["relying-party"], ["identity-authority"])
    r = other.post("/credentials/issue", json={"credential": unsigned()})
    assert r.status_code == 403


@pytest.mark.parametrize("credential,fragment", [
    ({"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiableCredential"],
      "credentialSubject": {"id": "did:example:x"}}, "@context"),
    (unsigned(type=["NationalIdCredential"]), "VerifiableCredential"),
    (unsigned(issuer="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"), "issues as"),
    (unsigned(credentialSubject={"id": "did:example:x", "favourite_colour": "blue"}), "favourite_colour"),
    (unsigned(proof={"type": "DataIntegrityProof"}), "proof"),
])
def test_bad_credentials_to_issue(agent, credential, fragment):
    r = agent.post("/credentials/issue", json={"credential": credential})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert fragment in r.json()["detail"]


def test_bad_bodies_are_problems(client):
    for path in ("/credentials/verify", "/presentations/verify"):
        r = client.post(path, json={"nothing": 1})
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")


def test_refusals_each_with_its_code(agent, client):
    signed = issue(agent)
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["age_over_18"] = False
    assert codes(verify(client, tampered)) == ["bad_signature"]
    suite = copy.deepcopy(signed)
    suite["proof"]["cryptosuite"] = "eddsa-jcs-2022"
    assert codes(verify(client, suite)) == ["unknown_cryptosuite"]
    value = copy.deepcopy(signed)
    value["proof"]["proofValue"] = "u" + value["proof"]["proofValue"][1:]
    assert codes(verify(client, value)) == ["bad_proof_value"]
    undefined = copy.deepcopy(signed)
    undefined["@context"] = [contexts.CREDENTIALS_V2]
    assert codes(verify(client, undefined)) == ["undefined_term"]
    remote = copy.deepcopy(signed)
    remote["@context"].append("https://evil.example/context.jsonld")
    assert codes(verify(client, remote)) == ["unknown_context"]
    # A key that is not the issuer's signs a credential naming this platform as its issuer.
    stranger = Ed25519PrivateKey.generate()
    forged = di.sign({k: v for k, v in signed.items() if k != "proof"}, stranger,
                     didkey.did_key_vm(stranger.public_key()))
    assert codes(verify(client, forged)) == ["wrong_key"]


def test_unknown_issuer_and_dates(agent, client, actors):
    stranger = Ed25519PrivateKey.generate()
    did = didkey.did_key(stranger.public_key())
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    foreign = di.sign(unsigned(issuer=did, validFrom=(now - timedelta(days=2)).strftime(fmt),
                               validUntil=(now - timedelta(days=1)).strftime(fmt)),
                      stranger, didkey.did_key_vm(stranger.public_key()))
    assert codes(verify(client, foreign)) == ["unknown_issuer", "expired"]
    future = di.sign(unsigned(issuer=did, validFrom=(now + timedelta(days=1)).strftime(fmt)),
                     stranger, didkey.did_key_vm(stranger.public_key()))
    assert codes(verify(client, future)) == ["unknown_issuer", "not_yet_valid"]
    # Once governance trusts that DID, only the dates are wrong.
    trust_did(actors, did, [(did.removeprefix("did:key:"), stranger.public_key())])
    assert codes(verify(client, future)) == ["not_yet_valid"]


def test_status_lists_revoke_and_suspend(agent, client):
    signed = issue(agent)
    entries = {e["statusPurpose"]: e for e in signed["credentialStatus"]}
    url = entries["revocation"]["statusListCredential"]
    assert url.startswith("http://testserver/credentials/status/")
    listed = client.get(url.removeprefix("http://testserver"))
    assert listed.status_code == 200
    lst = listed.json()
    assert lst["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert verify(client, lst)["verified"] is True  # the list is itself a VC signed with eddsa-rdfc-2022
    bits = statuslist.decode(lst["credentialSubject"]["encodedList"])
    assert len(bits) == 16_384  # 131,072 entries
    index = int(entries["revocation"]["statusListIndex"])
    assert not statuslist.bit(bits, index)

    def change(purpose, status):
        return agent.post("/credentials/status", json={"credentialId": signed["id"], "credentialStatus": [
            {"type": "BitstringStatusListEntry", "statusPurpose": purpose, "status": status}]})

    assert change("suspension", True).status_code == 200
    assert codes(verify(client, signed)) == ["suspended"]
    suspended = client.get(entries["suspension"]["statusListCredential"].removeprefix("http://testserver")).json()
    assert statuslist.bit(statuslist.decode(suspended["credentialSubject"]["encodedList"]), index)
    assert change("suspension", False).status_code == 200
    assert verify(client, signed)["verified"] is True
    assert change("revocation", True).status_code == 200
    assert codes(verify(client, signed)) == ["revoked"]
    revoked = client.get(url.removeprefix("http://testserver")).json()
    assert statuslist.bit(statuslist.decode(revoked["credentialSubject"]["encodedList"]), index)
    assert change("revocation", False).status_code == 400  # a revocation is final
    r = agent.post("/credentials/status", json={"credentialId": "urn:uuid:" + str(uuid.uuid4()), "credentialStatus": [
        {"statusPurpose": "revocation", "status": True}]})
    assert r.status_code == 404
    assert client.post("/credentials/status", json={"credentialId": signed["id"], "credentialStatus": [
        {"statusPurpose": "revocation", "status": True}]}).status_code == 401
    assert client.get("/credentials/status/" + "0" * 32 + "-revocation").status_code == 404


def test_bitstring_encoding():
    encoded = statuslist.encode({0, 7, 131_071})
    assert encoded.startswith("u")
    bits = statuslist.decode(encoded)
    assert [statuslist.bit(bits, i) for i in (0, 1, 7, 8, 131_071)] == [True, False, True, False, True]
    assert bits[0] == 0b1000_0001


def vp_of(credentials, key, challenge="c-1", domain="https://verifier.example"):
    vp = {"@context": [contexts.CREDENTIALS_V2], "type": ["VerifiablePresentation"],
          "holder": didkey.did_key(key.public_key()), "verifiableCredential": credentials}
    return di.sign(vp, key, didkey.did_key_vm(key.public_key()), purpose="authentication",
                   challenge=challenge, domain=domain)


def verify_vp(client, vp, challenge="c-1", domain="https://verifier.example"):
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp,
                                                   "options": {"challenge": challenge, "domain": domain}})
    assert r.status_code == 200, r.text
    return r.json()


def test_presentations(agent, client):
    holder = Ed25519PrivateKey.generate()
    signed = issue(agent)
    result = verify_vp(client, vp_of([signed], holder))
    assert result["verified"] is True and result["checks"] == ["proof", "credentials"]
    assert codes(verify_vp(client, vp_of([signed], holder), challenge="c-2")) == ["wrong_challenge"]
    assert codes(verify_vp(client, vp_of([signed], holder), domain="https://other.example")) == ["wrong_domain"]
    # The holder is someone else than the key that signed.
    vp = vp_of([signed], holder)
    vp["holder"] = didkey.did_key(Ed25519PrivateKey.generate().public_key())
    assert codes(verify_vp(client, vp))[0] in ("bad_signature", "wrong_key")
    # A credential inside fails: the presentation does too, with the credential's reason.
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["given_name"] = "Someone"
    assert codes(verify_vp(client, vp_of([tampered], holder))) == ["bad_signature"]
    # An assertion proof is not an authentication proof.
    assert codes(verify_vp(client, {**signed, "type": ["VerifiablePresentation"]}))[0] in (
        "wrong_proof_purpose", "malformed_credential")


def test_cli_revoke_suspend_unsuspend(sqlite_platform):
    # The CLI opens the instance from its data directory, so this runs on an SQLite instance.
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from dpistack.app import create_app
    from dpistack.cli import app
    from tests.conftest import Actors

    platform = sqlite_platform
    with TestClient(create_app(platform), base_url="http://testserver", raise_server_exceptions=False) as client:
        agent = Actors(platform, client).onboard("vc-issuer", "agency", ["credential-issuer"], ["identity-authority"])
        _cli_journey(platform, client, agent, CliRunner(), app)


def _cli_journey(platform, client, agent, runner, app):
    signed = issue(agent)
    base = ["--issuer", "vc-issuer", "--data-dir", str(platform.settings.data_dir)]
    assert runner.invoke(app, ["credentials", "suspend", signed["id"], *base]).exit_code == 0
    assert codes(verify(client, signed)) == ["suspended"]
    assert runner.invoke(app, ["credentials", "unsuspend", signed["id"], *base]).exit_code == 0
    assert verify(client, signed)["verified"] is True
    wrong = runner.invoke(app, ["credentials", "revoke", signed["id"], "--issuer", "someone-else",
                                "--data-dir", str(platform.settings.data_dir)])
    assert wrong.exit_code == 1 and "issued no credential" in wrong.output
    assert runner.invoke(app, ["credentials", "revoke", signed["id"], *base]).exit_code == 0
    assert codes(verify(client, signed)) == ["revoked"]


def test_a_foreign_did_web_trusted_by_governance(client, actors):
    key = Ed25519PrivateKey.generate()
    did = "did:web:registry.other-country.example"
    signed = di.sign(unsigned(issuer=did), key, did + "#key-1")
    refused = verify(client, signed)  # its DID document is never fetched: it is not on the trust list
    assert codes(refused) == ["unknown_issuer"] and "not on this country's trust list" in refused["errors"][0]["detail"]
    trust_did(actors, did, [("key-1", key.public_key())])
    assert verify(client, signed)["verified"] is True
    # Trusted for the national ID only: another type of credential from it is refused.
    other = di.sign(unsigned(issuer=did, type=["VerifiableCredential", "https://vocab.example/DriverLicence"]), key, did + "#key-1")
    refused = verify(client, other)
    assert codes(refused) == ["unknown_issuer"] and "DriverLicence" in refused["errors"][0]["detail"]
    # A key governance did not approve does not resolve.
    stranger = Ed25519PrivateKey.generate()
    assert codes(verify(client, di.sign(unsigned(issuer=did), stranger, did + "#key-2"))) == [
        "unresolvable_verification_method"]
    forged = di.sign(unsigned(issuer=did), stranger, did + "#key-1")
    assert codes(verify(client, forged)) == ["bad_signature"]
    # Distrusted: refused again, saying so.
    enact(actors, "issuer.distrust", {"iss": did, "reason": "keys compromised"}, approvers=("identity-authority",))
    refused = verify(client, signed)
    assert codes(refused) == ["unknown_issuer"] and "distrusted" in refused["errors"][0]["detail"]


def test_the_trust_list_carries_dids_and_refuses_keys_that_do_not_fit(client, actors):
    key = Ed25519PrivateKey.generate()
    did = didkey.did_key(key.public_key())
    other = Ed25519PrivateKey.generate()
    with pytest.raises(AssertionError, match="422"):
        trust_did(actors, did, [("k", other.public_key())])  # a did:key's key is the DID's own
    with pytest.raises(AssertionError, match="422"):
        trust_did(actors, "did:example:123", [("k", key.public_key())])  # only did:web and did:key
    trust_did(actors, did, [("k", key.public_key())])
    listed = client.get("/governance/v1/trusted-issuers")
    payload = json.loads(base64.urlsafe_b64decode(listed.text.split(".")[1] + "=="))
    assert [i["iss"] for i in payload["issuers"] if i["iss"].startswith("did:")] == [did]
