"""The OpenID4VCI issuer: metadata, nonces, the credential endpoint, and its refusals."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.core.platform import Platform
from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt

from .people import kyc_for

ISSUER = "http://testserver"


def proof(holder, nonce, aud=ISSUER, typ="openid4vci-proof+jwt", iat=None, **header):
    h = {"alg": "ES256", "typ": typ, "jwk": sdjwt.public_jwk(holder), **header}
    payload = {"aud": aud, "iat": int(time.time()) if iat is None else iat}
    if nonce is not None:
        payload["nonce"] = nonce
    return sdjwt.sign_jws(h, payload, holder)


def ask(agent, kyc, proofs, config="national-id-sd-jwt"):
    body = {"credential_configuration_id": config, "kyc": kyc}
    if proofs is not None:
        body["proofs"] = {"jwt": proofs}
    return agent.post("/credentials/v1/credential", json=body)


def c_nonce(client) -> str:
    r = client.post("/credentials/v1/nonce")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return r.json()["c_nonce"]


def trusted(client) -> sdjwt.TrustedIssuers:
    meta = client.get("/.well-known/openid-credential-issuer").json()
    t = sdjwt.TrustedIssuers()
    t.add_jwks(meta["credential_issuer"], client.get("/.well-known/jwks.json").json())
    return t


def test_metadata_describes_the_sd_jwt_vc_configuration(client):
    meta = client.get("/.well-known/openid-credential-issuer").json()
    assert meta["credential_issuer"] == ISSUER
    assert meta["credential_endpoint"] == ISSUER + "/credentials/v1/credential"
    assert meta["nonce_endpoint"] == ISSUER + "/credentials/v1/nonce"
    config = meta["credential_configurations_supported"]["national-id-sd-jwt"]
    assert config["format"] == "dc+sd-jwt" and config["vct"].startswith("urn:")
    assert config["cryptographic_binding_methods_supported"] == ["jwk"]
    assert config["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"] == ["ES256"]
    assert {"path": ["age_over_18"], "display": [{"name": "Over 18", "locale": "en"}]} in \
        config["credential_metadata"]["claims"]


def test_issue_a_bound_credential_and_present_only_over_18(world, client):
    uin, agent = world
    holder = ec.generate_private_key(ec.SECP256R1())
    r = ask(agent, kyc_for(agent, uin), [proof(holder, c_nonce(client))])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    [credential] = [c["credential"] for c in r.json()["credentials"]]
    full = sdjwt.verify(credential, trusted(client), require_key_binding=False)
    assert full.header["typ"] == "dc+sd-jwt"
    assert full.claims["iss"] == ISSUER and full.claims["vct"] == "urn:dpistack:vct:national-id:1"
    assert full.claims["given_name"] == "Amina" and full.claims["birthdate"] == "1990-04-12"
    assert full.claims["age_over_18"] is True and uin not in credential
    assert full.holder_jwk == sdjwt.public_jwk(holder)
    shown = sdjwt.present(credential, ["age_over_18"], holder_key=holder, audience="https://bar.test", nonce="v1")
    seen = sdjwt.verify(shown, trusted(client), audience="https://bar.test", nonce="v1")
    assert seen.claims["age_over_18"] is True
    assert not {"given_name", "family_name", "birthdate"} & set(seen.claims)
    # Someone else's wallet cannot present it.
    thief = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(E.WrongHolderKey):
        sdjwt.verify(sdjwt.present(credential, ["age_over_18"], holder_key=thief, audience="a", nonce="n"),
                     trusted(client), audience="a", nonce="n")


def test_a_batch_binds_one_credential_to_each_key(world, client):
    uin, agent = world
    holders = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    n = c_nonce(client)
    r = ask(agent, kyc_for(agent, uin), [proof(h, n) for h in holders])
    assert r.status_code == 200, r.text
    bound = [sdjwt.verify(c["credential"], trusted(client), require_key_binding=False).holder_jwk
             for c in r.json()["credentials"]]
    assert bound == [sdjwt.public_jwk(h) for h in holders]


def error(r, status=400) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()["error"]


def test_nonces_are_single_use_and_must_be_ours(world, client):
    uin, agent = world
    holder = ec.generate_private_key(ec.SECP256R1())
    kyc = kyc_for(agent, uin)
    n = c_nonce(client)
    assert ask(agent, kyc, [proof(holder, n)]).status_code == 200
    assert error(ask(agent, kyc, [proof(holder, n)])) == "invalid_nonce"  # replayed
    assert error(ask(agent, kyc, [proof(holder, "made-up")])) == "invalid_nonce"
    assert error(ask(agent, kyc, [proof(holder, None)])) == "invalid_nonce"
    assert error(ask(agent, kyc, [proof(holder, c_nonce(client)), proof(holder, c_nonce(client))])) == "invalid_nonce"


def test_a_nonce_is_shared_by_every_worker_process(sqlite_platform):
    """Two platforms on one data directory (two workers): a nonce from one is taken once by the other."""
    from dpistack.credentials import service

    other = Platform.open(sqlite_platform.settings)
    try:
        n = service.new_nonce(sqlite_platform)
        assert service._take_nonce(other, n) is True
        assert service._take_nonce(sqlite_platform, n) is False
        assert service._take_nonce(other, n) is False
    finally:
        other.close()


def test_bad_proofs_are_invalid_proof(world, client):
    uin, agent = world
    holder = ec.generate_private_key(ec.SECP256R1())
    kyc = kyc_for(agent, uin)
    for bad in (proof(holder, c_nonce(client), aud="http://another-issuer.test"),
                proof(holder, c_nonce(client), typ="JWT"),
                proof(holder, c_nonce(client), iat=int(time.time()) - 3600),
                proof(holder, c_nonce(client), kid="did:example:1"),
                "not.a.jwt", "x"):
        assert error(ask(agent, kyc, [bad])) == "invalid_proof", bad
    # Signed by another key than the one in its jwk header.
    other = ec.generate_private_key(ec.SECP256R1())
    forged = sdjwt.sign_jws({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": sdjwt.public_jwk(holder)},
                        {"aud": ISSUER, "iat": int(time.time()), "nonce": c_nonce(client)}, other)
    assert error(ask(agent, kyc, [forged])) == "invalid_proof"
    assert error(ask(agent, kyc, None)) == "invalid_proof"
    # A proof that failed leaves its nonce unspent: no request consumed it.
    n = c_nonce(client)
    assert error(ask(agent, kyc, [proof(holder, n, typ="JWT")])) == "invalid_proof"
    assert ask(agent, kyc, [proof(holder, n)]).status_code == 200


def test_bad_requests_and_callers(world, client, actors):
    uin, agent = world
    holder = ec.generate_private_key(ec.SECP256R1())
    kyc = kyc_for(agent, uin)
    assert error(ask(agent, kyc, [proof(holder, c_nonce(client))], config="mdl")) == "unknown_credential_configuration"
    assert error(ask(agent, "eyJ.not.kyc", [proof(holder, c_nonce(client))])) == "invalid_credential_request"
    r = agent.post("/credentials/v1/credential", json={"kyc": 5})
    assert error(r) == "invalid_credential_request"
    r = client.post("/credentials/v1/credential", json={"credential_configuration_id": "national-id-sd-jwt",
                                                        "kyc": kyc})
    assert error(r, 401) == "invalid_token" and "invalid_token" in r.headers["www-authenticate"]
    # A relying party that is not a credential issuer may not issue, even with an eKYC release of its own.
    rp = actors.onboard("shop-app", "relying-party", ["relying-party"], ["identity-authority"])
    actors.grant_claims("shop-app", ["birthdate"])
    own = kyc_for(rp, uin, consented=["birthdate"])
    assert error(ask(rp, own, [proof(holder, c_nonce(client))]), 403) == "insufficient_scope"
    # An issuer agent cannot use an eKYC release made for someone else.
    assert error(ask(agent, own, [proof(holder, c_nonce(client))])) == "invalid_credential_request"


PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def redeem(client, code):
    return client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code})


def test_pre_authorized_code_flow_gives_the_wallet_its_credential(world, client):
    uin, agent = world
    r = agent.post("/credentials/v1/offers", json={"kyc": kyc_for(agent, uin)})
    assert r.status_code == 201, r.text
    offer = r.json()["credential_offer"]
    assert offer["credential_issuer"] == ISSUER and offer["credential_configuration_ids"] == ["national-id-sd-jwt"]
    assert r.json()["credential_offer_uri"].startswith("openid-credential-offer://?credential_offer=%7B")
    code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
    # The wallet (no client authentication) redeems the code once.
    token = redeem(client, code)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert token.json()["authorization_details"][0]["credential_configuration_id"] == "national-id-sd-jwt"
    again = redeem(client, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert redeem(client, "made-up").json()["error"] == "invalid_grant"
    wallet = ec.generate_private_key(ec.SECP256R1())
    bearer = {"Authorization": f"Bearer {access}"}
    r = client.post("/credentials/v1/credential", headers=bearer, json={
        "credential_configuration_id": "national-id-sd-jwt", "proofs": {"jwt": [proof(wallet, c_nonce(client))]}})
    assert r.status_code == 200, r.text
    credential = r.json()["credentials"][0]["credential"]
    shown = sdjwt.present(credential, ["age_over_18", "family_name"], holder_key=wallet, audience="rp", nonce="x")
    seen = sdjwt.verify(shown, trusted(client), audience="rp", nonce="x")
    assert seen.claims["age_over_18"] is True and seen.claims["family_name"] == "Hassan"
    assert "given_name" not in seen.claims
    # The wallet's token is good only at the credential endpoint, and carries no eKYC of its own.
    assert client.get("/governance/v1/participants", headers=bearer).status_code == 401
    r = client.post("/credentials/v1/credential", headers=bearer, json={
        "credential_configuration_id": "national-id-sd-jwt", "kyc": "x",
        "proofs": {"jwt": [proof(wallet, c_nonce(client))]}})
    assert error(r) == "invalid_credential_request"
    head, body, sig = access.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    r = client.post("/credentials/v1/credential", headers={"Authorization": f"Bearer {forged}"}, json={
        "credential_configuration_id": "national-id-sd-jwt", "proofs": {"jwt": [proof(wallet, c_nonce(client))]}})
    assert error(r, 401) == "invalid_token"


def test_offers_need_the_right_and_expire(world, client, actors, monkeypatch):
    from dpistack.credentials import service

    uin, agent = world
    rp = actors.onboard("shop-app", "relying-party", ["relying-party"], ["identity-authority"])
    actors.grant_claims("shop-app", ["birthdate"])
    r = rp.post("/credentials/v1/offers", json={"kyc": kyc_for(rp, uin, consented=["birthdate"])})
    assert error(r, 403) == "insufficient_scope"
    assert error(agent.post("/credentials/v1/offers", json={"kyc": "nope"})) == "invalid_credential_request"
    monkeypatch.setattr(service, "OFFER_LIFETIME", -1)
    code = agent.post("/credentials/v1/offers", json={"kyc": kyc_for(agent, uin)}).json()[
        "credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    assert redeem(client, code).json()["error"] == "invalid_grant"


def credential_id_of(credential: str) -> str:
    """An SD-JWT VC's id for status changes: its Token Status List entry, ``uri#idx``."""
    ref = sdjwt.parse_jws(credential.split("~")[0], "jwt", E.MalformedSdJwt)[1]["status"]["status_list"]
    return f"{ref['uri']}#{ref['idx']}"


def test_an_independent_verifier_accepts_what_the_endpoint_issued(world, client):
    """@sd-jwt/sd-jwt-vc verifies a presentation of the platform's credential with the key the
    platform publishes in its JWKS (found by the credential's kid)."""
    from .test_interop import run_js

    uin, agent = world
    wallet = ec.generate_private_key(ec.SECP256R1())
    r = ask(agent, kyc_for(agent, uin), [proof(wallet, c_nonce(client))])
    credential = r.json()["credentials"][0]["credential"]
    kid = sdjwt.parse_jws(credential.split("~")[0], "jwt", E.MalformedSdJwt)[0]["kid"]
    [jwk] = [k for k in client.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == kid]
    shown = sdjwt.present(credential, ["age_over_18"], holder_key=wallet, audience="https://bar.test", nonce="z")
    uri = sdjwt.parse_jws(credential.split("~")[0], "jwt", E.MalformedSdJwt)[1]["status"]["status_list"]["uri"]

    def js_verify():
        status_list = client.get(uri.removeprefix(ISSUER))
        assert status_list.headers["content-type"] == "application/statuslist+jwt"
        return run_js({"op": "verify", "presentation": shown, "audience": "https://bar.test", "nonce": "z",
                       "issuer_jwk": {k: jwk[k] for k in ("kty", "crv", "x", "y")},
                       "status_lists": {uri: status_list.text}})

    answer = js_verify()
    assert answer["ok"], answer
    assert answer["payload"]["age_over_18"] is True and "given_name" not in answer["payload"]
    assert answer["payload"]["iss"] == ISSUER and answer["header"]["kid"] == kid
    assert answer["payload"]["status"]["status_list"]["uri"] == uri  # a Token Status List it read and checked

    r = agent.post("/credentials/status", json={"credentialId": credential_id_of(credential),
                                                "credentialStatus": [{
                                                                      "status": True, "statusPurpose": "revocation"}]})
    assert r.status_code == 200, r.text
    refused = js_verify()
    assert refused["ok"] is False and "status" in refused["error"].lower(), refused


def offer_with_tx_code(agent, uin, **tx_code):
    r = agent.post("/credentials/v1/offers", json={"kyc": kyc_for(agent, uin), "tx_code": tx_code})
    assert r.status_code == 201, r.text
    return r.json()


def test_an_offer_may_require_a_transaction_code(world, client):
    """OpenID4VCI 1.0 §4.1.1, §6.1, §6.3: the offer describes the code, never carries it; the
    token request must carry it."""
    uin, agent = world
    made = offer_with_tx_code(agent, uin, length=6, input_mode="numeric", description="Sent to you by SMS")
    grant = made["credential_offer"]["grants"][PRE_AUTH]
    assert grant["tx_code"] == {"input_mode": "numeric", "length": 6, "description": "Sent to you by SMS"}
    tx = made["tx_code_value"]
    assert len(tx) == 6 and tx.isdigit()
    assert tx not in made["credential_offer_uri"].replace(grant["pre-authorized_code"], "")
    code = grant["pre-authorized_code"]
    missing = redeem(client, code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request", missing.text
    wrong = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code,
                                              "tx_code": "000000" if tx != "000000" else "111111"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert "4 attempts left" in wrong.json()["error_description"]
    right = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": tx})
    assert right.status_code == 200, right.text
    again = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": tx})
    assert again.json()["error"] == "invalid_grant"  # a code is redeemed once, with its transaction code too
    # An offer without a transaction code refuses one (invalid_request, §6.3) and stays redeemable.
    plain = agent.post("/credentials/v1/offers", json={"kyc": kyc_for(agent, uin)}).json()
    assert "tx_code" not in plain["credential_offer"]["grants"][PRE_AUTH] and "tx_code_value" not in plain
    code = plain["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    r = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": "123456"})
    assert r.json()["error"] == "invalid_request"
    assert redeem(client, code).status_code == 200


def test_wrong_transaction_codes_are_bounded_and_only_a_hash_is_kept(world, client, platform):
    from dpistack.credentials import service
    from dpistack.credentials.models import CredentialOffer

    uin, agent = world
    made = offer_with_tx_code(agent, uin, input_mode="text", length=8)
    tx, code = made["tx_code_value"], made["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    assert len(tx) == 8 and set(tx) <= set(service._TX_TEXT_ALPHABET)
    with platform.db.uow() as session:
        row = session.get(CredentialOffer, made["offer_id"])
        assert row.tx_code_hash and tx not in row.tx_code_hash and row.tx_code_hash != service._code_hash(tx)
    for i in range(service.TX_CODE_ATTEMPTS):
        r = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": "WRONG" + str(i)})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "withdrawn" in r.json()["error_description"]
    # The right code is refused now: the offer, its claims with it, is gone.
    r = client.post("/oauth/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": tx})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    with platform.db.uow() as session:
        assert session.get(CredentialOffer, made["offer_id"]) is None


def test_a_transaction_code_request_is_checked(world, client):
    uin, agent = world
    kyc = kyc_for(agent, uin)
    for bad in ({"length": 3}, {"length": 40}, {"input_mode": "emoji"}, {"description": "x" * 301}, {"value": "1234"}):
        r = agent.post("/credentials/v1/offers", json={"kyc": kyc, "tx_code": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_credential_request", (bad, r.text)
    # An empty object asks for the defaults: six digits.
    made = offer_with_tx_code(agent, uin)
    assert made["credential_offer"]["grants"][PRE_AUTH]["tx_code"] == {"input_mode": "numeric", "length": 6}


def test_the_authorization_server_publishes_its_metadata(client):
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == ISSUER and meta["token_endpoint"] == ISSUER + "/oauth/token"
    assert PRE_AUTH in meta["grant_types_supported"] and "client_credentials" in meta["grant_types_supported"]
    assert meta["pre-authorized_grant_anonymous_access_supported"] is True
