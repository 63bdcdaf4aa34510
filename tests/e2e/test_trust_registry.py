"""The trust registry across borders: two countries' instances as separate `dpi serve`
processes on loopback. UG issues a national ID credential to a person enrolled there; KE's
verifier refuses it (`untrusted_issuer`) until KE's governance enacts `issuer.trust` for UG's
issuer (its keys from UG's /.well-known/jwt-vc-issuer), then accepts it, and refuses it again
once KE enacts `issuer.distrust`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import qr, sdjwt, trust
from dpistack.identity.claims import category
from tests.e2e.test_federation import actor, onboard
from tests.e2e.test_serve import dpi_serve, new_user_env

pytestmark = pytest.mark.e2e

PERSON = {"names": [{"language": "en", "given": "Okello", "family": "Mugisha"}], "birth_date": "1988-02-03",
          "sex": "male", "birth_place": "Gulu", "address": "4 Acholi Road, Gulu", "phone": "+256700000002"}
VCT = "urn:dpistack:vct:national-id:1"


def issue_in(http: httpx.Client, data_dir, base: str, holder: ec.EllipticCurvePrivateKey) -> str:
    """A person enrolled at ``base``, released by eKYC to an issuer agent, who gets their credential."""
    onboard(http, data_dir, base, "civil-registry", "registry", ["registration"], ["identity-authority"])
    enrolled = actor(http, data_dir, "civil-registry", base).post("/identity/v1/enrolments", json=PERSON)
    assert enrolled.status_code in (201, 202) and enrolled.json()["status"] == "issued", enrolled.text
    onboard(http, data_dir, base, "id-credentials", "agency", ["relying-party", "credential-issuer"],
            ["identity-authority"])
    agent = actor(http, data_dir, "id-credentials", base)
    for claim in ("given_name", "family_name", "birthdate"):
        proposal = agent.propose("access.grant", {"participant_id": "id-credentials", "action": "data:read",
                                                  "category": category(claim), "owner_id": "identity-authority",
                                                  "purpose": "national ID credential"}).json()
        assert actor(http, data_dir, "identity-authority", base).decide(proposal).json()["status"] == "enacted"
    kyc = agent.post("/identity/v1/kyc", json={
        "individual_id": enrolled.json()["uin"], "transaction_id": "vc-ug-1",
        "demographics": {"birth_date": PERSON["birth_date"]},
        "consented_claims": ["given_name", "family_name", "birthdate"]})
    assert kyc.status_code == 200, kyc.text
    nonce = http.post("/credentials/v1/nonce").json()["c_nonce"]
    proof = sdjwt.sign_jws({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": sdjwt.public_jwk(holder)},
                           {"aud": base, "iat": int(time.time()), "nonce": nonce}, holder)
    r = agent.post("/credentials/v1/credential", json={"credential_configuration_id": "national-id-sd-jwt",
                                                       "kyc": kyc.json()["kyc"], "proofs": {"jwt": [proof]}})
    assert r.status_code == 200, r.text
    return r.json()["credentials"][0]["credential"]


def decide(http, data_dir, base, kind, payload, approvers):
    proposal = actor(http, data_dir, "digital-agency", base).propose(kind, payload).json()
    assert "id" in proposal, proposal
    for approver in approvers:
        decided = actor(http, data_dir, approver, base).decide(proposal).json()
    assert decided["status"] == "enacted", decided


def dpi(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """A `dpi` command in its own process, in a directory of no instance."""
    return subprocess.run([sys.executable, "-m", "dpistack.cli", *args], env=new_user_env(tmp_path / "verifier"),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_a_foreign_credential_verifies_only_while_its_issuer_is_trusted(tmp_path):
    ke_dir, ug_dir = tmp_path / "ke", tmp_path / "ug"
    holder = ec.generate_private_key(ec.SECP256R1())
    with dpi_serve(ke_dir) as (ke, _), dpi_serve(ug_dir) as (ug, _), \
            httpx.Client(base_url=ke, timeout=30) as ke_http, httpx.Client(base_url=ug, timeout=30) as ug_http:
        credential = issue_in(ug_http, ug_dir, ug, holder)
        assert sdjwt.b64json(credential.split(".")[1])["iss"] == ug

        # The holder shows KE's bar only that they are over 18, for its nonce.
        def show(nonce: str) -> dict:
            presentation = sdjwt.present(credential, ["age_over_18"], holder_key=holder, audience="urn:ke:bar",
                                         nonce=nonce)
            r = ke_http.post("/credentials/v1/verify", json={"presentation": presentation, "nonce": nonce,
                                                              "audience": "urn:ke:bar"})
            assert r.status_code == 200, r.text
            return r.json()

        refused = show("ke-1")
        assert refused["verified"] is False and refused["error"] == "untrusted_issuer"
        assert ug in refused["error_description"]

        # KE's operator takes UG's keys from its JWT VC issuer metadata; KE's governance decides.
        metadata = httpx.get(ug + "/.well-known/jwt-vc-issuer", timeout=10).json()
        assert metadata["issuer"] == ug
        decide(ke_http, ke_dir, ke, "issuer.trust", {
            "iss": metadata["issuer"], "name": "Uganda national ID", "country": "UG", "vcts": [VCT],
            "jwks": metadata["jwks"], "jwks_source": ug + "/.well-known/jwt-vc-issuer"},
            ["identity-authority", "digital-agency"])
        accepted = show("ke-2")
        assert accepted["verified"] is True, accepted
        assert accepted["claims"]["age_over_18"] is True and "given_name" not in accepted["claims"]
        assert accepted["issuer"]["iss"] == ug and accepted["issuer"]["country"] == "UG"

        # KE publishes the decision in its signed list, checked with KE's platform key.
        listed = trust.verify_signed_list(ke_http.get("/governance/v1/trusted-issuers").text,
                                          ke_http.get("/.well-known/jwks.json").json(), expected_issuer=ke)
        assert [i["iss"] for i in listed["issuers"]] == [ke, ug]

        # A KE verifier offline: the list saved while UG was trusted, then a card's QR code.
        cache = tmp_path / "ke-trust-list.json"
        assert dpi(tmp_path, "credentials", "trust-list", "--url", ke, "--save", str(cache)).returncode == 0
        card = qr.encode(qr.card_presentation(credential, ["age_over_18"]))
        offline = dpi(tmp_path, "verify", card, "--trust-list", str(cache), "--json")
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert json.loads(offline.stdout)["issuer"]["iss"] == ug

        decide(ke_http, ke_dir, ke, "issuer.distrust", {"iss": ug, "reason": "signing key reported lost"},
               ["identity-authority"])
        gone = show("ke-3")
        assert gone["verified"] is False and gone["error"] == "untrusted_issuer"
        assert "distrusted" in gone["error_description"]
        # Offline, a list is as fresh as when it was saved: refreshed, it refuses the card too.
        assert dpi(tmp_path, "credentials", "trust-list", "--url", ke, "--save", str(cache)).returncode == 0
        stale = dpi(tmp_path, "verify", card, "--trust-list", str(cache), "--json")
        assert stale.returncode == 1 and json.loads(stale.stdout)["error"] == "untrusted_issuer"
        # UG's own verifier trusts its own issuer all along.
        presentation = sdjwt.present(credential, ["age_over_18"], holder_key=holder, audience="urn:ug:bar", nonce="u")
        home = ug_http.post("/credentials/v1/verify", json={"presentation": presentation, "nonce": "u",
                                                             "audience": "urn:ug:bar"}).json()
        assert home["verified"] is True and home["issuer"]["self"] is True
