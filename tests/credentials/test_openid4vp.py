"""The OpenID4VP verifier: a relying party's DCQL request, the wallet's direct_post answer,
and the refusals (replay, wrong audience, wrong holder key, over-disclosure, untrusted issuer)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import sdjwt, service

VCT = "urn:dpistack:vct:national-id:1"
CLAIMS = {"given_name": "Amina", "family_name": "Hassan", "birthdate": "1990-04-12", "age_over_18": True}
OVER_18 = {"credentials": [{"id": "id_card", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
                            "claims": [{"path": ["age_over_18"]}]}]}


@pytest.fixture
def wallet(platform):
    holder = ec.generate_private_key(ec.SECP256R1())
    credential = sdjwt.issue(CLAIMS, issuer=service.issuer_id(platform), vct=VCT, key=service.signing_key(platform),
                             holder_jwk=sdjwt.public_jwk(holder), decoys=2)
    return credential, holder


def ask(rp, query=OVER_18) -> dict:
    r = rp.post("/credentials/v1/presentation-requests", json={"dcql_query": query})
    assert r.status_code == 201, r.text
    return r.json()


def answer(client, made, presentation, state=None, query_id="id_card"):
    request = made["authorization_request"]
    return client.post(urlsplit(request["response_uri"]).path,
                       data={"vp_token": json.dumps({query_id: [presentation]}), "state": state or request["state"]})


def shown(wallet, made, disclose=("age_over_18",), key=None, aud=None, nonce=None):
    credential, holder = wallet
    request = made["authorization_request"]
    return sdjwt.present(credential, list(disclose), holder_key=key or holder, audience=aud or request["client_id"],
                         nonce=nonce or request["nonce"])


def outcome(rp, made) -> dict:
    r = rp.get(f"/credentials/v1/presentation-requests/{made['id']}")
    assert r.status_code == 200, r.text
    return r.json()


def refused(client, rp, made, presentation, **kw) -> str:
    r = answer(client, made, presentation, **kw)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    result = outcome(rp, made)
    assert result["status"] == "refused" and "credentials" not in result
    assert result["error"] in r.json()["error_description"]
    return result["error"]


def test_a_bar_learns_only_that_the_holder_is_over_18(client, bar, wallet):
    made = ask(bar)
    request = made["authorization_request"]
    assert request["response_type"] == "vp_token" and request["response_mode"] == "direct_post"
    assert request["client_id"] == "redirect_uri:" + request["response_uri"]
    assert request["response_uri"].endswith(f"/credentials/v1/presentations/{made['id']}/response")
    assert len(request["nonce"]) >= 43 and request["dcql_query"]["credentials"][0]["id"] == "id_card"
    link = parse_qs(urlsplit(made["authorization_request_uri"]).query)
    assert made["authorization_request_uri"].startswith("openid4vp://?")
    assert json.loads(link["dcql_query"][0]) == request["dcql_query"] and link["nonce"] == [request["nonce"]]
    assert outcome(bar, made)["status"] == "pending"

    r = answer(client, made, shown(wallet, made))
    assert r.status_code == 200 and r.json() == {}, r.text
    result = outcome(bar, made)
    assert result["status"] == "verified", result
    [card] = result["credentials"]["id_card"]
    assert card["claims"] == {"age_over_18": True} and card["holder_bound"] is True
    assert card["issuer"]["self"] is True and card["vct"] == VCT
    assert "Amina" not in json.dumps(result)


def test_a_presentation_is_accepted_once(client, bar, wallet):
    made = ask(bar)
    presentation = shown(wallet, made)
    assert answer(client, made, presentation).status_code == 200
    replay = answer(client, made, presentation)
    assert replay.status_code == 400 and "already answered" in replay.json()["error_description"]
    assert outcome(bar, made)["status"] == "verified"  # the replay changed nothing
    # Replayed into a new request (a new nonce, a new audience): refused.
    assert refused(client, bar, ask(bar), presentation) == "wrong_nonce"


def test_a_wrong_state_does_not_use_up_the_request(client, bar, wallet):
    made = ask(bar)
    r = answer(client, made, shown(wallet, made), state="guessed")
    assert r.status_code == 400 and "state" in r.json()["error_description"]
    assert answer(client, made, shown(wallet, made)).status_code == 200


def test_wrong_audience_and_wrong_holder_key_are_refused(client, bar, wallet):
    made = ask(bar)
    assert refused(client, bar, made, shown(wallet, made, aud="redirect_uri:https://elsewhere.test/cb")) == "wrong_audience"
    thief = ec.generate_private_key(ec.SECP256R1())
    made = ask(bar)
    assert refused(client, bar, made, shown(wallet, made, key=thief)) == "wrong_holder_key"


def test_only_requested_claims_may_be_disclosed_and_all_of_them_must_be(client, bar, wallet):
    made = ask(bar)
    assert refused(client, bar, made, shown(wallet, made, disclose=("age_over_18", "given_name"))) == "over_disclosure"
    made = ask(bar)
    assert refused(client, bar, made, shown(wallet, made, disclose=())) == "missing_claim"
    names = {"credentials": [{**OVER_18["credentials"][0], "claims": [{"path": ["given_name"]}, {"path": ["family_name"]}]}]}
    made = ask(bar, names)
    assert answer(client, made, shown(wallet, made, disclose=("given_name", "family_name"))).status_code == 200
    assert outcome(bar, made)["credentials"]["id_card"][0]["claims"] == {"given_name": "Amina", "family_name": "Hassan"}


def test_untrusted_issuers_and_other_types_are_refused(client, bar, platform):
    holder = ec.generate_private_key(ec.SECP256R1())
    foreign = sdjwt.issue(CLAIMS, issuer="https://id.elsewhere.example", vct=VCT,
                          key=sdjwt.SigningKey("k1", ec.generate_private_key(ec.SECP256R1())),
                          holder_jwk=sdjwt.public_jwk(holder))
    made = ask(bar)
    assert refused(client, bar, made, shown((foreign, holder), made)) == "untrusted_issuer"
    licence = sdjwt.issue(CLAIMS, issuer=service.issuer_id(platform), vct="urn:dpistack:vct:driving-licence:1",
                          key=service.signing_key(platform), holder_jwk=sdjwt.public_jwk(holder))
    made = ask(bar)
    assert refused(client, bar, made, shown((licence, holder), made)) == "wrong_credential_type"


def test_malformed_answers_are_refused(client, bar, wallet):
    made = ask(bar)
    path = urlsplit(made["authorization_request"]["response_uri"]).path
    state = made["authorization_request"]["state"]
    r = client.post(path, data={"vp_token": "{not json", "state": state})
    assert r.status_code == 400 and outcome(bar, made)["error"] == "invalid_vp_token"
    made = ask(bar)
    r = answer(client, made, shown(wallet, made), query_id="other")
    assert r.status_code == 400 and outcome(bar, made)["error"] == "invalid_vp_token"
    r = client.post("/credentials/v1/presentations/nope/response", data={"vp_token": "{}", "state": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = client.post(path, content=b"\xff\xfe", headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400


def test_the_wallet_may_decline(client, bar):
    made = ask(bar)
    r = client.post(urlsplit(made["authorization_request"]["response_uri"]).path,
                    data={"error": "access_denied", "state": made["authorization_request"]["state"]})
    assert r.status_code == 200
    assert outcome(bar, made)["error"] == "wallet_error"


@pytest.mark.parametrize("query", [
    {"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {"doctype_value": "x"}}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {}}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}}] * 2},
    {"credentials": [{"id": "a b", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}}], "credential_sets": []},
    {"credentials": []},
])
def test_bad_dcql_queries_are_refused(bar, query):
    r = bar.post("/credentials/v1/presentation-requests", json={"dcql_query": query})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


def test_only_relying_parties_ask_and_only_the_asker_reads(actors, bar):
    made = ask(bar)
    other = actors.onboard("other-bar", "relying-party", ["relying-party"], ["identity-authority"])
    assert other.get(f"/credentials/v1/presentation-requests/{made['id']}").status_code == 404
    registry = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    r = registry.post("/credentials/v1/presentation-requests", json={"dcql_query": OVER_18})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
