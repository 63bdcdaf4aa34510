"""Revoking and suspending SD-JWT VCs: each credential the issuer endpoint makes points into a
Token Status List (IETF draft-ietf-oauth-status-list), served as a signed statuslist+jwt; the
platform's verifiers (the verify API, OpenID4VP) and `dpi verify` offline refuse a revoked or
suspended credential and accept it again once a suspension is lifted."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from dpistack.cli import app
from dpistack.credentials import errors as E
from dpistack.credentials import qr, sdjwt, statuslist, trust

from .people import enrol_with_agent, kyc_for
from .test_issuer import ISSUER, ask, c_nonce, credential_id_of, proof
from .test_qr import local  # noqa: F401 - fixture

runner = CliRunner()


def issued(client, agent, uin) -> tuple[str, ec.EllipticCurvePrivateKey]:
    wallet = ec.generate_private_key(ec.SECP256R1())
    r = ask(agent, kyc_for(agent, uin), [proof(wallet, c_nonce(client))])
    assert r.status_code == 200, r.text
    return r.json()["credentials"][0]["credential"], wallet


def verify(client, credential: str, wallet) -> dict:
    shown = sdjwt.present(credential, ["given_name"], holder_key=wallet, audience="https://bar.test", nonce="n-1")
    r = client.post("/credentials/v1/verify", json={"presentation": shown, "nonce": "n-1", "audience": "https://bar.test"})
    assert r.status_code == 200, r.text
    return r.json()


def change(agent, credential: str, purpose: str, value: bool):
    return agent.post("/credentials/status", json={"credentialId": credential_id_of(credential),
                                                   "credentialStatus": [{"statusPurpose": purpose, "status": value}]})


def test_a_credential_names_its_entry_and_the_list_is_a_signed_token(world, client):
    uin, agent = world
    credential, _ = issued(client, agent, uin)
    payload = sdjwt.parse_jws(credential.split("~")[0], "jwt", E.MalformedSdJwt)[1]
    ref = payload["status"]["status_list"]  # a plain claim: every presentation shows it
    assert isinstance(ref["idx"], int) and ref["uri"].startswith(ISSUER + "/credentials/v1/status-lists/")
    assert "status" not in {name for _, name, _ in sdjwt.disclosures_of(credential)}
    assert ref["uri"] in client.get("/credentials/v1/status-lists").json()["status_lists"]

    assert change(agent, credential, "suspension", True).status_code == 200
    r = client.get(ref["uri"].removeprefix(ISSUER))
    assert r.status_code == 200 and r.headers["content-type"] == "application/statuslist+jwt"
    header, token, _, _ = sdjwt.parse_jws(r.text, "status list", E.MalformedSdJwt)
    assert header["typ"] == "statuslist+jwt" and header["alg"] == "ES256"
    assert token["iss"] == ISSUER and token["sub"] == ref["uri"] and token["exp"] > token["iat"] and token["ttl"] > 0
    assert token["status_list"]["bits"] == 2
    lst = token["status_list"]["lst"]
    array = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert (array[ref["idx"] // 4] >> (2 * (ref["idx"] % 4))) & 3 == statuslist.SUSPENDED  # 2 bits, LSB first
    assert sum(bin(b).count("1") for b in array) == 1  # only that entry is set
    assert client.get("/credentials/v1/status-lists/" + "0" * 32).status_code == 404


def test_revoked_and_suspended_credentials_fail_verification(world, client):
    uin, agent = world
    credential, wallet = issued(client, agent, uin)
    assert verify(client, credential, wallet)["verified"] is True

    assert change(agent, credential, "suspension", True).status_code == 200
    answer = verify(client, credential, wallet)
    assert answer["verified"] is False and answer["error"] == "suspended"
    assert change(agent, credential, "suspension", False).status_code == 200
    assert verify(client, credential, wallet)["verified"] is True

    assert change(agent, credential, "revocation", True).status_code == 200
    answer = verify(client, credential, wallet)
    assert answer["verified"] is False and answer["error"] == "revoked" and "revoked" in answer["error_description"]
    assert change(agent, credential, "revocation", False).status_code == 400  # a revocation is for good

    other, other_wallet = issued(client, agent, uin)
    assert verify(client, other, other_wallet)["verified"] is True  # one credential's status, not the person's


def test_only_the_issuing_agent_changes_a_status(world, client, actors):
    uin, agent = world
    credential, wallet = issued(client, agent, uin)
    rival = actors.onboard("other-issuer", "agency", ["relying-party", "credential-issuer"], ["identity-authority"])
    assert change(rival, credential, "revocation", True).status_code == 404
    assert verify(client, credential, wallet)["verified"] is True


def test_offline_verification_uses_the_saved_status_lists(local, tmp_path):  # noqa: F811
    platform, actors = local  # SQLite: the `dpi` commands open the same instance
    client = actors.client
    uin, agent = enrol_with_agent(actors)
    credential, _ = issued(client, agent, uin)
    card = qr.encode(qr.card_presentation(credential, ["given_name"]))
    data_dir = str(platform.settings.data_dir)

    def save(name: str) -> str:
        path = str(tmp_path / name)
        r = runner.invoke(app, ["credentials", "trust-list", "--save", path, "--data-dir", data_dir])
        assert r.exit_code == 0 and "status list" in r.output, r.output
        return path

    before = save("before.json")
    ok = runner.invoke(app, ["verify", card, "--trust-list", before, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["status_checked"] is True, ok.output

    assert change(agent, credential, "revocation", True).status_code == 200
    stale = runner.invoke(app, ["verify", card, "--trust-list", before, "--json"])
    assert stale.exit_code == 0  # the list saved before the revocation cannot know it
    after = save("after.json")
    refused = runner.invoke(app, ["verify", card, "--trust-list", after, "--json"])
    assert refused.exit_code == 1 and json.loads(refused.output)["error"] == "revoked", refused.output

    kept = json.loads(open(after).read())
    kept["status_lists"] = {}
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(kept))
    unchecked = runner.invoke(app, ["verify", card, "--trust-list", str(bare)])
    assert unchecked.exit_code == 0 and "status not checked" in unchecked.output

    kept["status_lists"] = {u: t[:-4] + "AAAA" for u, t in json.loads(open(after).read())["status_lists"].items()}
    bare.write_text(json.dumps(kept))
    forged = runner.invoke(app, ["verify", card, "--trust-list", str(bare), "--json"])
    assert forged.exit_code == 1 and json.loads(forged.output)["error"] == "status_unavailable"


def test_a_foreign_status_list_must_be_on_the_issuers_site_and_signed_by_it(platform):
    key = ec.generate_private_key(ec.SECP256R1())
    keys = sdjwt.TrustedIssuers()
    keys.add("https://id.ug.example", "ug-1", sdjwt.public_jwk(key))
    entry = trust.Entry(iss="https://id.ug.example", name="UG", country="UG", vcts=None, valid_until=None)
    uri = "https://id.ug.example/credentials/v1/status-lists/" + "a" * 32
    body = {"iss": entry.iss, "sub": uri, "iat": 1, "exp": 2**40, "ttl": 60,
            "status_list": {"bits": 2, "lst": base64.urlsafe_b64encode(zlib.compress(bytes([0b0100]))).decode()}}
    token = sdjwt.sign_jws({"alg": "ES256", "typ": "statuslist+jwt", "kid": "ug-1"}, body, key)
    payload = trust.status_from_token(token, uri, entry, keys)
    assert trust.value_in(payload, 0) == statuslist.VALID and trust.value_in(payload, 1) == statuslist.INVALID
    with pytest.raises(E.StatusUnavailable):
        trust.status_from_token(token, uri.replace("a" * 32, "b" * 32), entry, keys)  # another list's token
    with pytest.raises(E.StatusUnavailable):
        trust.value_in(payload, 4)  # outside the list
    impostor = sdjwt.sign_jws({"alg": "ES256", "typ": "statuslist+jwt", "kid": "ug-1"}, body,
                              ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(E.StatusUnavailable):
        trust.status_from_token(impostor, uri, entry, keys)
    lookup = trust.platform_status(platform)
    with pytest.raises(E.StatusUnavailable, match="not on the issuer's own site"):
        lookup("https://evil.example/list", 0, entry, keys)  # never fetched
