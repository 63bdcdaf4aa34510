"""The verifier page (``/verify``): check the QR code of a printed credential card (issue #11
item 4). Public — a guard at a door, a clerk at a counter — and it keeps nothing.

Two ways, one result page:

* **Without JavaScript** the form posts the text the scanner read; the portal asks the
  credentials block's public ``POST /credentials/v1/verify`` (``qr``, no key binding: a card
  answers no nonce), which checks it against this country's trust list held by the platform,
  with no call to the issuer.
* **With JavaScript** (``static/verify.js``) the page keeps the signed trust list
  (``/governance/v1/trusted-issuers``) and the platform's JWKS in the browser, checked on
  arrival, and verifies the code in the browser with WebCrypto — so it still works with no
  network once loaded; ``/verify-sw.js``, a service worker, keeps the page and its assets for a
  device that goes offline.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, context, form_of, static_path

router = APIRouter(include_in_schema=False)
MAX_QR_TEXT = 4400  # one QR code of version 40 holds 4,296 alphanumeric characters


def reason(code: str) -> str:
    """What a refusal means, in the person's language (the API's own words are shown too)."""
    if code == "untrusted_issuer":
        return _("The issuer of this credential is not trusted in this country.")
    if code in ("expired", "not_yet_valid"):
        return _("This credential is not valid today: it has expired or is not valid yet.")
    if code in ("malformed_qr", "oversized_qr"):
        return _("This is not the QR code of a credential, or it was not read completely. Scan it again.")
    if code == "revoked":
        return _("Its issuer revoked this credential.")
    if code == "suspended":
        return _("Its issuer has suspended this credential for now.")
    if code == "bad_trust_list":
        return _("The list of trusted issuers could not be checked. Reload this page while online.")
    return _("This credential has been changed or is not genuine. Do not accept it.")


def claim_labels() -> dict[str, str]:
    return {"given_name": _("Given name"), "family_name": _("Family name"), "name": _("Name"),
            "birthdate": _("Date of birth"), "gender": _("Gender"), "address": _("Address"),
            "age_over_18": _("Over 18"), "nationality": _("Nationality")}


def claim_value(value) -> str:
    if value is True or value is False:
        return _("Yes") if value else _("No")
    if isinstance(value, dict):  # an OpenID Connect address: its parts in order
        return ", ".join(str(v) for v in value.values() if v not in (None, ""))
    if isinstance(value, list):
        return ", ".join(claim_value(v) for v in value)
    return str(value)


def claim_rows(claims: dict) -> list[dict]:
    """The disclosed claims as summary-list rows (``name#ar``: the name in Arabic script)."""
    labels, rows = claim_labels(), []
    for name, value in claims.items():
        if name in ("iss", "iat", "exp", "nbf", "vct", "cnf", "status", "_sd_alg"):
            continue
        base, _sep, tag = name.partition("#")
        label = labels.get(base, base) + (f" ({tag})" if tag else "")
        rows.append({"key": {"text": label}, "value": {"text": claim_value(value)}})
    return rows


def messages() -> dict:
    """What ``verify.js`` says, in the page's language."""
    return {"labels": claim_labels(), "yes": _("Yes"), "no": _("No"), "genuine": _("Genuine credential"),
            "issued_by": _("Issued by {issuer}"), "reject": _("Do not accept this credential."),
            "warning": _("Warning"), "offline_ready": _("Ready to check without a network, with the list of trusted "
                                                      "issuers of {date}."),
            "checked_here": _("Checked on this device."),
            "carrier": _("A printed card proves what it says, not who carries it: compare it with the person in "
                         "front of you."),
            "status_unchecked": _("Whether its issuer revoked it could not be checked on this device: check it "
                                  "while online."),
            "reasons": {code: reason(code) for code in ("untrusted_issuer", "expired", "malformed_qr",
                                                        "bad_trust_list", "bad_signature", "revoked", "suspended")}}


def _page(ctx: Ctx, status: int = 200, **kw) -> Response:
    trust = {"issuer": ctx.platform.settings.public_url}
    return ctx.render("verify.html", status, title=_("Check a credential"), trust=trust, section="verify",
                      claim_rows=claim_rows, messages=messages(),
                      **{"entered": "", "error": None, "result": None, **kw})


@router.get("/verify")
async def verify_page(ctx: Ctx = Depends(context)) -> Response:
    return _page(ctx)


@router.post("/verify")
async def verify(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    text = form.get("qr", "")
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        return _page(ctx, 422, error=_("Enter the text the scanner read from the QR code."))
    if len(text) > MAX_QR_TEXT:
        return _page(ctx, 422, entered=text[:MAX_QR_TEXT],
                     error=_("This is longer than any credential's QR code. Scan it again."))
    r = await ctx.api("POST", "/credentials/v1/verify", json={"qr": text, "require_key_binding": False})
    if r.status_code != 200:
        return ctx.api_refused(r)
    answer = r.json()
    if answer["verified"]:
        result = {"verified": True, "claims": answer["claims"], "issuer": answer["issuer"]}
    else:
        result = {"verified": False, "reason": reason(answer["error"]), "code": answer["error"],
                  "detail": answer.get("error_description", "")}
    return _page(ctx, entered=text, result=result)


@router.get("/verify-sw.js")
async def service_worker() -> Response:
    """The service worker at the site's root so that its scope can be ``/verify``."""
    return Response(static_path("verify-sw.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
