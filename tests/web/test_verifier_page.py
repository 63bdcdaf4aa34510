"""The verifier page (/verify) without JavaScript: a card's QR text checked by the platform
against this country's trust list — genuine, tampered, from an untrusted issuer, not a card,
expired — and the form's own errors, in the person's language. The same check in the browser
(with JavaScript, offline) is in test_browser_pages.py."""

from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import qr, sdjwt, service, statuslist

from .test_portal import browser_for, csrf_of

VCT = "urn:dpistack:vct:national-id:1"
CLAIMS = {"given_name": "Amina", "family_name": "Hassan", "birthdate": "1990-04-12", "age_over_18": True}


def card(platform, disclose=("given_name", "age_over_18"), *, issuer=None, key=None, status: str | None = None,
         **kw) -> str:
    """A card's QR text; with ``status`` ("valid", "revoked"), its credential has an entry in
    one of this platform's Token Status Lists, in that state."""
    holder = ec.generate_private_key(ec.SECP256R1())
    claims = dict(CLAIMS)
    if status is not None:
        credential_id, claims["status"] = statuslist.allocate_token_status(platform, "test-issuer")
        if status == "revoked":
            assert statuslist.set_status(platform, credential_id, "test-issuer", "revocation", True)
    sd_jwt = sdjwt.issue(claims, issuer=issuer or service.issuer_id(platform), vct=VCT, disclosable=list(CLAIMS),
                         key=key or service.signing_key(platform), holder_jwk=sdjwt.public_jwk(holder), decoys=3, **kw)
    return qr.encode(qr.card_presentation(sd_jwt, disclose))


def check(b, text: str, **params):
    page = b.get("/verify", params=params)
    assert page.status_code == 200 and 'src="/static/verify.js"' in page.text
    return b.post("/verify", data={"csrf_token": csrf_of(page.text), "qr": text}, params=params)


def result(page) -> str:
    """The answer on the page (the page also carries verify.js's messages)."""
    return page.text.split('id="verify-result"', 1)[1].split('id="verify-i18n"', 1)[0]


def test_a_genuine_card_shows_only_what_it_discloses(instance):
    with browser_for(instance) as b:
        page = check(b, card(instance.platform))
        assert page.status_code == 200, page.text
        assert "Genuine credential" in result(page) and "Issued by this platform" in page.text
        claims = page.text.split('id="verify-claims"', 1)[1].split("</dl>", 1)[0]
        assert "Given name" in claims and "Amina" in claims and "Over 18" in claims and "Yes" in claims
        assert "Hassan" not in page.text and "1990" not in page.text  # not disclosed on this card
        assert "compare it with the person in front of you" in page.text


def forged_copy(text: str) -> str:
    """The card with a longer life than its issuer signed."""
    jwt, rest = qr.decode(text).split("~", 1)
    head, body, sig = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["exp"] += 86400
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return qr.encode(f"{head}.{forged_body}.{sig}~{rest}")


def test_a_tampered_card_is_refused_with_its_reason(instance):
    forged = forged_copy(card(instance.platform))
    with browser_for(instance) as b:
        page = check(b, forged)
        assert page.status_code == 200 and "Do not accept this credential." in result(page)
        assert "Genuine credential" not in result(page)
        assert "bad_signature" in page.text and "changed or is not genuine" in page.text


def test_an_untrusted_issuer_is_named(instance):
    foreign = sdjwt.SigningKey("foreign-1", ec.generate_private_key(ec.SECP256R1()))
    text = card(instance.platform, issuer="https://id.elsewhere.example", key=foreign)
    with browser_for(instance) as b:
        page = check(b, text, lang="fr")
        assert "untrusted_issuer" in page.text and "id.elsewhere.example" in page.text
        assert "n’est pas reconnu" in page.text or "pas de confiance" in page.text  # the reason, in French


def test_a_revoked_card_is_refused_by_the_platform(instance):
    with browser_for(instance) as b:
        assert "Genuine credential" in result(check(b, card(instance.platform, status="valid")))
        page = check(b, card(instance.platform, status="revoked"))
        assert "Do not accept this credential." in result(page) and "revoked" in result(page)
        assert "Its issuer revoked this credential." in result(page)


def test_an_expired_card_is_refused(instance):
    now = int(time.time())
    text = card(instance.platform, lifetime=60, now=now - 3600)
    with browser_for(instance) as b:
        page = check(b, text)
        assert "Do not accept this credential." in result(page) and "expired" in result(page)


def test_what_is_not_a_card_and_the_forms_errors(instance):
    with browser_for(instance) as b:
        page = check(b, "HC1:NOT-OURS")
        assert page.status_code == 200 and "malformed_qr" in page.text and "Scan it again" in page.text
        empty = check(b, "   ")
        assert empty.status_code == 422 and "govuk-error-summary" in empty.text and 'href="#qr"' in empty.text
        long = check(b, "DPI1:" + "A" * 5000)
        assert long.status_code == 422 and "longer than any credential" in long.text
        forged = b.post("/verify", data={"csrf_token": "forged", "qr": card(instance.platform)})
        assert forged.status_code == 403 and 'id="verify-result"' not in forged.text


def test_the_verify_api_takes_the_qr_text(instance):
    api = instance.api
    good = api.post("/credentials/v1/verify", json={"qr": card(instance.platform), "require_key_binding": False})
    assert good.status_code == 200 and good.json()["verified"] is True
    assert good.json()["claims"] == {"given_name": "Amina", "age_over_18": True, "iss": service.issuer_id(instance.platform),
                                     "vct": VCT, **{k: v for k, v in good.json()["claims"].items()
                                                   if k in ("iat", "exp")}}
    both = api.post("/credentials/v1/verify", json={"qr": "DPI1:", "presentation": "x~", "require_key_binding": False})
    assert both.status_code == 400
    bad = api.post("/credentials/v1/verify", json={"qr": "DPI1:%%%", "require_key_binding": False})
    assert bad.status_code == 200 and bad.json()["error"] == "malformed_qr"


def test_the_service_worker_is_served_for_the_verify_scope(instance):
    with browser_for(instance) as b:
        sw = b.get("/verify-sw.js")
        assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
        assert '"/verify"' in sw.text and "caches.match" in sw.text
        js = b.get("/static/verify.js")
        assert js.status_code == 200 and "crypto.subtle.verify" in js.text
