"""Offline verification: a card's QR code (zlib + base45, RFC 9285) and `dpi verify` with a
cached, signed trust list: good, tampered, untrusted, distrusted, expired, oversized."""

from __future__ import annotations

import json
import secrets
import time
import xml.etree.ElementTree as ET
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dpistack.app import create_app
from dpistack.cli import app
from dpistack.credentials import errors as E
from dpistack.credentials import qr, sdjwt, service
from tests.conftest import Actors

runner = CliRunner()
VCT = "urn:dpistack:vct:national-id:1"
CLAIMS = {"given_name": "Amina", "family_name": "Hassan", "birthdate": "1990-04-12", "age_over_18": True}


# -- base45, RFC 9285 §4.3 and §6 ------------------------------------------------------------
@pytest.mark.parametrize("raw,text", [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                                      (b"ietf!", "QED8WEX0"), (b"", "")])
def test_base45_follows_the_rfc_examples(raw, text):
    assert qr.b45encode(raw) == text and qr.b45decode(text) == raw


@pytest.mark.parametrize("bad", ["GGX", ":::", "A", "abc", "BB8\n", "GGW" + "Z"])
def test_base45_refuses_what_the_rfc_says_decoders_must(bad):
    with pytest.raises(ValueError):
        qr.b45decode(bad)


def test_base45_round_trips_any_bytes():
    for n in range(0, 40):
        data = secrets.token_bytes(n)
        assert qr.b45decode(qr.b45encode(data)) == data


# -- the card ---------------------------------------------------------------------------------
@pytest.fixture
def local(sqlite_platform, monkeypatch):
    """An instance on SQLite whose `dpi` commands see the same database and public URL."""
    monkeypatch.setenv("DPI_PUBLIC_URL", sqlite_platform.settings.public_url)
    monkeypatch.delenv("DPI_DATABASE_URL", raising=False)
    with TestClient(create_app(sqlite_platform), base_url="http://testserver") as client:
        yield sqlite_platform, Actors(sqlite_platform, client)


def issued(platform, holder, **kw) -> str:
    return sdjwt.issue(CLAIMS, issuer=service.issuer_id(platform), vct=VCT, key=service.signing_key(platform),
                       holder_jwk=sdjwt.public_jwk(holder), decoys=3, **kw)


def save_list(platform, tmp_path) -> str:
    path = tmp_path / "trust-list.json"
    r = runner.invoke(app, ["credentials", "trust-list", "--save", str(path),
                            "--data-dir", str(platform.settings.data_dir)])
    assert r.exit_code == 0, r.output
    return str(path)


def dpi_verify(*args):
    return runner.invoke(app, ["verify", *args])


def test_a_card_fits_a_qr_code_and_verifies_offline(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    card = qr.card_presentation(issued(platform, holder), ["given_name", "age_over_18"])
    text = qr.encode(card)
    assert text.startswith("DPI1:") and set(text) <= set(qr.ALPHABET)
    assert len(text) <= qr.QR_MAX_ALPHANUMERIC and qr.decode(text) == card

    svg, facts = qr.render(text, "svg", side_mm=40)
    root = ET.fromstring(svg)
    assert root.get("width") == "40mm" or root.get("width") == "40.0mm"
    assert facts["version"] <= 40 and facts["module_mm"] == round(40 / facts["modules"], 3)
    png, _ = qr.render(text, "png")
    assert png.startswith(b"\x89PNG")

    cache = save_list(platform, tmp_path)
    (tmp_path / "scan.txt").write_text(text + "\n")
    r = dpi_verify("--file", str(tmp_path / "scan.txt"), "--trust-list", cache, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["verified"] is True and result["claims"]["given_name"] == "Amina"
    assert "birthdate" not in result["claims"] and result["issuer"]["self"] is True
    assert result["holder_bound"] is False
    shown = dpi_verify(text, "--trust-list", cache)
    assert shown.exit_code == 0 and "VERIFIED" in shown.output and "Amina" in shown.output


def test_the_qr_command_prints_a_card(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "vc.txt").write_text(issued(platform, holder))
    r = runner.invoke(app, ["credentials", "qr", str(tmp_path / "vc.txt"), "--disclose", "age_over_18",
                            "--out", str(tmp_path / "card.svg")])
    assert r.exit_code == 0, r.output
    assert ET.fromstring((tmp_path / "card.svg").read_bytes()).tag.endswith("svg") and "QR version" in r.output


def test_a_key_bound_presentation_needs_the_nonce_and_audience(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    shown = qr.encode(sdjwt.present(issued(platform, holder), ["age_over_18"], holder_key=holder,
                                    audience="urn:kiosk:1", nonce="7731"))
    cache = save_list(platform, tmp_path)
    ok = dpi_verify(shown, "--trust-list", cache, "--nonce", "7731", "--audience", "urn:kiosk:1", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["holder_bound"] is True
    assert json.loads(dpi_verify(shown, "--trust-list", cache, "--nonce", "9", "--audience", "urn:kiosk:1",
                                 "--json").stdout)["error"] == "wrong_nonce"
    unasked = dpi_verify(shown, "--trust-list", cache, "--json")
    assert unasked.exit_code == 1 and json.loads(unasked.stdout)["error"] == "missing_kb_jwt"


def reason(text, cache) -> str:
    r = dpi_verify(text, "--trust-list", cache, "--json")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["verified"] is False
    return result["error"]


def test_tampered_cards_fail_with_the_reason(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    credential = issued(platform, holder)
    card = qr.card_presentation(credential, ["age_over_18"])
    cache = save_list(platform, tmp_path)
    # a disclosure made up by the bearer (claims to be over 18 with a new salt)
    forged = card.replace(card.split("~")[1], sdjwt.make_disclosure("age_over_18", True))
    assert reason(qr.encode(forged), cache) == "unknown_digest"
    jwt, rest = card.split("~", 1)
    header, payload, sig = jwt.split(".")
    changed = sdjwt.b64e(sdjwt.b64d(payload).replace(b'"iat":', b'"iat":1'))
    assert reason(qr.encode(".".join([header, changed, sig]) + "~" + rest), cache) == "bad_signature"
    text = qr.encode(card)
    assert reason(text[:-7], cache) == "malformed_qr"  # a torn or badly scanned code
    assert reason(text.replace("DPI1:", "DPI9:"), cache) == "malformed_qr"


def test_untrusted_distrusted_and_expired_cards_fail(local, tmp_path):
    platform, actors = local
    holder = ec.generate_private_key(ec.SECP256R1())
    foreign = ec.generate_private_key(ec.SECP256R1())
    theirs = qr.encode(qr.card_presentation(sdjwt.issue(
        CLAIMS, issuer="https://id.ug.example", vct=VCT, key=sdjwt.SigningKey("ug-1", foreign),
        holder_jwk=sdjwt.public_jwk(holder)), ["age_over_18"]))
    assert reason(theirs, save_list(platform, tmp_path)) == "untrusted_issuer"

    proposal = actors("digital-agency").propose("issuer.trust", {
        "iss": "https://id.ug.example", "name": "Uganda", "country": "UG", "vcts": [VCT],
        "jwks": {"keys": [{**sdjwt.public_jwk(foreign), "kid": "ug-1"}]}}).json()
    for approver in ("identity-authority", "digital-agency"):
        actors(approver).decide(proposal)
    trusted_list = save_list(platform, tmp_path)
    assert dpi_verify(theirs, "--trust-list", trusted_list).exit_code == 0

    distrust = actors("digital-agency").propose("issuer.distrust", {"iss": "https://id.ug.example",
                                                                    "reason": "withdrawn"}).json()
    assert actors("identity-authority").decide(distrust).json()["status"] == "enacted"
    assert reason(theirs, save_list(platform, tmp_path)) == "untrusted_issuer"

    old = int(time.time()) - 3 * 86400
    expired = qr.encode(qr.card_presentation(issued(platform, holder, now=old, lifetime=86400), ["age_over_18"]))
    assert reason(expired, trusted_list) == "expired"


def test_a_forged_or_stale_trust_list_is_refused(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    text = qr.encode(qr.card_presentation(issued(platform, holder), ["age_over_18"]))
    cache = json.loads((tmp_path / "x").parent.joinpath(save_list(platform, tmp_path)).read_text())
    stranger = ec.generate_private_key(ec.SECP256R1())
    kid = sdjwt.b64json(cache["trust_list"].split(".")[0])["kid"]
    (tmp_path / "forged.json").write_text(json.dumps(
        {**cache, "platform_jwks": {"keys": [{**sdjwt.public_jwk(stranger), "kid": kid}]}}))
    assert reason(text, str(tmp_path / "forged.json")) == "bad_trust_list"
    missing = dpi_verify(text, "--trust-list", str(tmp_path / "none.json"))
    assert missing.exit_code == 2 and "trust-list --save" in missing.output


def test_oversized_payloads_are_refused_with_the_budget(local, tmp_path):
    platform, _ = local
    holder = ec.generate_private_key(ec.SECP256R1())
    big = sdjwt.issue({**CLAIMS, "photo": sdjwt.b64e(secrets.token_bytes(3000))}, issuer=service.issuer_id(platform),
                      vct=VCT, key=service.signing_key(platform), holder_jwk=sdjwt.public_jwk(holder))
    with pytest.raises(E.OversizedQr, match="2860"):
        qr.encode(qr.card_presentation(big, ["photo"]))
    assert qr.encode(qr.card_presentation(big, ["age_over_18"]))  # the same credential, fewer claims: fits
    r = runner.invoke(app, ["credentials", "qr", "-", "--disclose", "photo", "--out", str(tmp_path / "c.svg")], input=big)
    assert r.exit_code == 1 and "oversized_qr" in r.output
    cache = save_list(platform, tmp_path)
    assert reason("DPI1:" + "0" * 4300, cache) == "oversized_qr"
    bomb = "DPI1:" + qr.b45encode(zlib.compress(b"A" * 200_000, 9))  # fits a code, inflates past any presentation
    assert reason(bomb, cache) == "oversized_qr"
