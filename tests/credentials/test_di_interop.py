"""Our W3C VC 2.0 / Data Integrity eddsa-rdfc-2022 against Digital Bazaar's, both ways:
@digitalbazaar/vc with @digitalbazaar/data-integrity, @digitalbazaar/eddsa-rdfc-2022-cryptosuite
and @digitalbazaar/ed25519-multikey (npm, locked in package-lock.json, installed by `make test`
with npm ci), run with the machine's Node.js and a document loader serving our bundled
contexts. Under CI=true a missing node or package fails; elsewhere it skips."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from tests.credentials.node import node_with
from dpistack.credentials import contexts, didkey

from .people import trust_did

HERE = Path(__file__).parent
SCRIPT = HERE / "di_interop.mjs"
CONTEXTS = {url: contexts.context(url) for url in contexts.BUNDLED}
SUBJECT = {"id": "did:example:amina", "given_name": "Amina", "birthdate": "1990-04-12", "age_over_18": True}


def _node() -> str:
    return node_with("@digitalbazaar/vc")


def run_js(request: dict) -> dict:
    out = subprocess.run([_node(), str(SCRIPT)], input=json.dumps(dict(request, contexts=CONTEXTS)),
                         capture_output=True, text=True, cwd=HERE, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def agent(actors):
    return actors.onboard("vc-issuer", "agency", ["credential-issuer"], ["identity-authority"])


def ours(agent) -> dict:
    r = agent.post("/credentials/issue", json={"credential": {
        "@context": [contexts.CREDENTIALS_V2, contexts.DPISTACK_V1],
        "type": ["VerifiableCredential", "NationalIdCredential"], "credentialSubject": SUBJECT}})
    assert r.status_code == 201, r.text
    return r.json()["verifiableCredential"]


def status_lists(client, credential) -> dict:
    return {e["statusListCredential"]: client.get(e["statusListCredential"].removeprefix("http://testserver")).json()
            for e in credential["credentialStatus"]}


def test_they_verify_ours_with_its_status_lists(agent, client):
    signed = ours(agent)
    assert run_js({"op": "verify", "credential": signed, "statusLists": status_lists(client, signed)}) == \
        {"verified": True}
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["age_over_18"] = False
    assert run_js({"op": "verify", "credential": tampered, "statusLists": status_lists(client, signed)})[
        "verified"] is False
    r = agent.post("/credentials/status", json={"credentialId": signed["id"], "credentialStatus": [
        {"statusPurpose": "revocation", "status": True}]})
    assert r.status_code == 200
    answer = run_js({"op": "verify", "credential": signed, "statusLists": status_lists(client, signed)})
    assert answer == {"verified": False, "error": "revocation"}


def test_we_verify_theirs(client, actors):
    issued = run_js({"op": "issue", "credential": {
        "@context": [contexts.CREDENTIALS_V2, contexts.DPISTACK_V1],
        "type": ["VerifiableCredential", "NationalIdCredential"], "id": "urn:uuid:7f3c7a52-1c2e-4b8e-9b7e-2b1f0f9b9a11",
        "validFrom": "2025-01-01T00:00:00Z", "credentialSubject": SUBJECT}})["verifiableCredential"]
    assert issued["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    def verify(credential):
        return client.post("/credentials/verify", json={"verifiableCredential": credential}).json()

    # Their signature verifies; their did:key is not an issuer this verifier trusts yet.
    assert [e["code"] for e in verify(issued)["errors"]] == ["unknown_issuer"]
    did = issued["issuer"]
    trust_did(actors, did, [(did.removeprefix("did:key:"), didkey.key_from_multikey(did.removeprefix("did:key:")))])
    assert verify(issued) == {"verified": True, "checks": ["proof", "issuer", "validity", "credentialStatus"],
                              "warnings": [], "errors": []}
    tampered = copy.deepcopy(issued)
    tampered["credentialSubject"]["given_name"] = "Someone"
    assert [e["code"] for e in verify(tampered)["errors"]] == ["bad_signature"]


def test_presentations_both_ways(agent, client):
    signed = ours(agent)
    lists = status_lists(client, signed)
    # Theirs of our credential, verified by us with the challenge and domain.
    vp = run_js({"op": "present", "credential": signed, "challenge": "c-42", "domain": "https://verifier.test"})[
        "verifiablePresentation"]
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp,
                                                   "options": {"challenge": "c-42", "domain": "https://verifier.test"}})
    assert r.json()["verified"] is True, r.text
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp,
                                                   "options": {"challenge": "c-43", "domain": "https://verifier.test"}})
    assert [e["code"] for e in r.json()["errors"]] == ["wrong_challenge"]
    # Ours, verified by them.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dpistack.credentials import dataintegrity as di, didkey

    holder = Ed25519PrivateKey.generate()
    mine = di.sign({"@context": [contexts.CREDENTIALS_V2], "type": ["VerifiablePresentation"],
                    "holder": didkey.did_key(holder.public_key()), "verifiableCredential": [signed]},
                   holder, didkey.did_key_vm(holder.public_key()), purpose="authentication",
                   challenge="c-42", domain="https://verifier.test")
    assert run_js({"op": "verifyPresentation", "presentation": mine, "challenge": "c-42",
                   "domain": "https://verifier.test", "statusLists": lists}) == {"verified": True}
    assert run_js({"op": "verifyPresentation", "presentation": mine, "challenge": "c-99",
                   "domain": "https://verifier.test", "statusLists": lists})["verified"] is False
