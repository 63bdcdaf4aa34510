"""My credentials (``/me/credentials``): the portal as the person's cloud wallet.

"Get my national ID credential" runs OpenID4VCI's authorization-code flow with the portal's
OpenID Connect client (``citizen-portal-web``, allowed by governance to be a wallet for the
credential): the person logs in and consents on identity's pages, the code (PKCE S256,
``private_key_jwt``) gives an access token for the credential endpoint, the portal makes a
fresh ES256 holder key, proves it with a ``c_nonce`` and receives the SD-JWT VC.

The holder key is never stored on the server. The credential and its private key live only in
a cookie sealed with AES-256-GCM (the session's key; HttpOnly, SameSite=Lax, path
``/me/credentials``) bound to the person of the login (the pairwise ``sub``), gone when the
person logs out or removes it; the download hands both to the person as a JSON file a wallet
can import. The claims shown are those the verifier API checks (``/credentials/v1/verify``);
the QR code holds only the claims the person ticks (the disclosures are chosen here, in the
wallet; ``/credentials/v1/qr`` checks the card and draws it as SVG).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import zlib
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from joserfc import jwt

from dpistack.core.crypto import constant_time_equal
from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER
from dpistack.web import session, setup
from dpistack.web.citizen import _discovery, _ensure_client, _need_login
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, checked_form, context, form_of

log = logging.getLogger("dpistack.web")
router = APIRouter(prefix=session.WALLET_PATH, include_in_schema=False)
PROOF_TYP = "openid4vci-proof+jwt"


def claim_label(name: str) -> str:
    base, _hash, lang = name.partition("#")
    label = {"given_name": _("Given name"), "family_name": _("Family name"), "name": _("Full name"),
             "birthdate": _("Date of birth"), "gender": _("Sex"), "address": _("Address"),
             "age_over_18": _("Over 18")}.get(base, base)
    return f"{label} ({lang})" if lang else label


def claim_value(value) -> str:
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if isinstance(value, dict):
        return str(value.get("formatted") or ", ".join(str(v) for v in value.values()))
    return str(value)


def _b64json(part: str):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def disclosures(sd_jwt: str) -> list[tuple[str, str]]:
    """The credential's disclosures as (disclosure, claim name): what a wallet shows its holder
    before choosing. Array elements and decoys have no name and are left out."""
    out = []
    for part in sd_jwt.split("~")[1:]:
        if not part:
            continue
        try:
            decoded = _b64json(part)
        except (ValueError, UnicodeError):
            continue
        if isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[1], str):
            out.append((part, decoded[1]))
    return out


def card(sd_jwt: str, chosen: set[str]) -> str:
    """The issuer's JWT with only the chosen claims' disclosures and no key binding (a card)."""
    return "~".join([sd_jwt.split("~", 1)[0], *(d for d, name in disclosures(sd_jwt) if name in chosen), ""])


def _person(token: str | None) -> str:
    """The pairwise ``sub`` of an access token the platform gave this portal (its payload, read
    without a check: the token comes from the portal's own sealed session or the token endpoint)."""
    try:
        return str(_b64json(str(token).split(".")[1]).get("sub") or "")
    except (IndexError, ValueError, UnicodeError, AttributeError):
        return ""


def _seal(ctx: Ctx, value: dict) -> str:
    """A sealed cookie value, compressed first so that the credential and key fit in 4 KB."""
    packed = base64.urlsafe_b64encode(zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)).decode()
    return ctx.sealer.seal({"z": packed}, session.WALLET_COOKIE)


def held(ctx: Ctx) -> dict | None:
    """The credential this browser holds for the person logged in, or None."""
    opened = ctx.sealer.open(ctx.request.cookies.get(session.WALLET_COOKIE), session.WALLET_COOKIE)
    if not opened or not isinstance(opened.get("z"), str):
        return None
    try:
        value = json.loads(zlib.decompress(base64.urlsafe_b64decode(opened["z"]), bufsize=16384))
    except (ValueError, zlib.error):
        return None
    if not isinstance(value, dict) or not value.get("sub") or value.get("sub") != _person(ctx.session.token):
        return None  # another person's, left by an earlier login in this browser
    return value


def _cookie(ctx: Ctx, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=session.WALLET_PATH, httponly=True, samesite="lax",
                        secure=ctx.platform.settings.public_url.startswith("https"))


def _not_set_up(ctx: Ctx) -> Response:
    return ctx.problem(503, _("The portal is not set up yet"),
                       _("The operator of this instance has to register the portal first (dpi portal setup)."))


async def _page(ctx: Ctx, credential: dict | None, error: str | None = None, status: int = 200,
                chosen: set[str] | None = None) -> Response:
    claims, issuer = None, None
    if credential is not None:
        r = await ctx.api("POST", "/credentials/v1/verify", json={"presentation": credential["credential"],
                                                                  "require_key_binding": False})
        result = r.json() if r.status_code == 200 else {}
        if not result.get("verified"):
            log.info("portal: the held credential no longer verifies (%s)", result.get("error"))
            return ctx.problem(422, _("Your credential does not verify any more"),
                               _("It may have expired, or its issuer is no longer trusted. Remove it and get a new "
                                 "one."), _("Go back"), session.WALLET_PATH)
        claims, issuer = result["claims"], result["issuer"]
        for name in ("iss", "iat", "exp", "vct", "nbf", "status"):
            claims.pop(name, None)
    names = [name for _d, name in disclosures(credential["credential"])] if credential else []
    return ctx.render("credentials.html", status, title=_("My credentials"), credential=credential,
                      claims=claims, issuer=issuer, names=names, label=claim_label, value=claim_value, error=error,
                      chosen=chosen if chosen is not None else set(), section="credentials")


@router.get("")
async def my_credentials(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    return await _page(ctx, held(ctx))


@router.post("")
async def get_credential(ctx: Ctx = Depends(context)) -> Response:
    """Start OpenID4VCI's authorization-code flow: send the person to the provider's login."""
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not setup.is_set_up(ctx.platform) or not await _ensure_client(ctx):
        return _not_set_up(ctx)
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    meta = await _discovery(ctx)
    details = [{"type": "openid_credential", "credential_configuration_id": setup.CREDENTIAL_CONFIGURATION}]
    query = urlencode({"response_type": "code", "client_id": setup.CLIENT_ID,
                       "redirect_uri": setup.credentials_callback_url(ctx.platform), "state": state,
                       "code_challenge": challenge, "code_challenge_method": "S256",
                       "authorization_details": json.dumps(details, separators=(",", ":")),
                       "claims_locales": ctx.lang, "ui_locales": ctx.lang})
    response = ctx.redirect(f"{meta['authorization_endpoint']}?{query}")
    _cookie(ctx, response, session.WALLET_LOGIN_COOKIE,
            ctx.sealer.seal({"s": state, "v": verifier, "t": time.time()}, session.WALLET_LOGIN_COOKIE), 600)
    return response


@router.get("/callback")
async def callback(ctx: Ctx = Depends(context)) -> Response:
    """The provider sent the person back: code → token → nonce → proof → credential."""
    if (stop := _need_login(ctx)) is not None:
        return stop
    params = ctx.request.query_params
    pending = ctx.sealer.open(ctx.request.cookies.get(session.WALLET_LOGIN_COOKIE), session.WALLET_LOGIN_COOKIE)
    again = _("Try again")
    if params.get("error"):
        log.info("portal: the credential request came back with %s", params.get("error"))
        if params.get("error") == "access_denied":
            return ctx.problem(400, _("You did not get the credential"),
                               _("You chose not to share your information, so no credential was issued."), again,
                               session.WALLET_PATH)
        return ctx.problem(400, _("The credential could not be issued"), _("Start again from the beginning."), again,
                           session.WALLET_PATH)
    if not pending or not params.get("code") or not constant_time_equal(str(pending.get("s")),
                                                                         params.get("state", "")):
        return ctx.problem(400, _("The credential could not be issued"),
                           _("This request was started in another browser or took too long. Start again."), again,
                           session.WALLET_PATH)
    meta = await _discovery(ctx)
    client_key = credentials.load_private_jwk(ctx.platform.settings.data_dir, setup.CLIENT_KEY)
    tokens = await ctx.api("POST", "/oauth/token", data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": setup.credentials_callback_url(ctx.platform), "client_id": setup.CLIENT_ID,
        "code_verifier": pending["v"], "client_assertion_type": JWT_BEARER,
        "client_assertion": credentials.client_assertion(setup.CLIENT_ID, client_key, meta["token_endpoint"])})
    body = tokens.json() if tokens.status_code == 200 else {}
    identifiers = [i for d in body.get("authorization_details") or [] if isinstance(d, dict)
                   and d.get("credential_configuration_id") == setup.CREDENTIAL_CONFIGURATION
                   for i in d.get("credential_identifiers") or []]
    if not identifiers:
        log.warning("portal: the token request for a credential was refused (%s)", tokens.status_code)
        return ctx.problem(400, _("The credential could not be issued"), _("Start again from the beginning."), again,
                           session.WALLET_PATH)
    if _person(body["access_token"]) != _person(ctx.session.token):
        return ctx.problem(403, _("This is not your credential"),
                           _("You logged in for the credential with another national ID than the one you are "
                             "logged in to the portal with. Log in with your own, and try again."), again,
                           session.WALLET_PATH)
    issuer = (await ctx.api("GET", "/.well-known/openid-credential-issuer")).json()
    nonce = (await ctx.api("POST", "/credentials/v1/nonce")).json()["c_nonce"]
    holder = credentials.new_key()  # a fresh key for this credential
    public = {k: v for k, v in holder.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
    proof = jwt.encode({"alg": "ES256", "typ": PROOF_TYP, "jwk": public},
                       {"aud": issuer["credential_issuer"], "iat": int(time.time()), "nonce": nonce}, holder)
    issued = await ctx.api("POST", "/credentials/v1/credential", token=body["access_token"],
                           json={"credential_identifier": identifiers[0], "proofs": {"jwt": [proof]}})
    if issued.status_code != 200:
        log.warning("portal: the credential endpoint refused (%s): %s", issued.status_code, issued.text[:200])
        return ctx.problem(400, _("The credential could not be issued"), _("Start again from the beginning."), again,
                           session.WALLET_PATH)
    private = {**holder.as_dict(private=True), "alg": "ES256", "use": "sig"}
    private.pop("kid", None)
    value = {"sub": _person(ctx.session.token), "credential": issued.json()["credentials"][0]["credential"],
             "holder_key": private, "credential_issuer": issuer["credential_issuer"],
             "credential_configuration_id": setup.CREDENTIAL_CONFIGURATION, "received_at": int(time.time())}
    response = ctx.redirect(session.WALLET_PATH, _("Your national ID credential is ready."))
    _cookie(ctx, response, session.WALLET_COOKIE, _seal(ctx, value))
    response.delete_cookie(session.WALLET_LOGIN_COOKIE, path=session.WALLET_PATH)
    return response


async def _posted(ctx: Ctx) -> tuple[dict, dict | None, Response | None]:
    """A POST about the held credential: its form and the credential, or the page that stops it."""
    form, stop = await checked_form(ctx, _need_login)
    if stop is not None:
        return form, None, stop
    credential = held(ctx)
    if credential is None:
        return form, None, ctx.problem(404, _("You have no credential here"),
                                       _("Get your national ID credential first."), _("Go back"), session.WALLET_PATH)
    return form, credential, None


@router.post("/download")
async def download(ctx: Ctx = Depends(context)) -> Response:
    """The credential and its holder key, as a JSON file a wallet can import."""
    _form, credential, stop = await _posted(ctx)
    if stop is not None:
        return stop
    body = {"format": "dc+sd-jwt", "credential_issuer": credential["credential_issuer"],
            "credential_configuration_id": credential["credential_configuration_id"],
            "credential": credential["credential"], "holder_key": credential["holder_key"]}
    response = Response(json.dumps(body, indent=2), media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="national-id-credential.json"'})
    return ctx.finish(response)


@router.post("/qr")
async def show_qr(ctx: Ctx = Depends(context)) -> Response:
    """A QR code with only the claims the person ticked (selective disclosure)."""
    _form, credential, stop = await _posted(ctx)
    if stop is not None:
        return stop
    raw = await ctx.request.form()
    names = {name for _d, name in disclosures(credential["credential"])}
    chosen = {c for c in raw.getlist("claims") if isinstance(c, str) and c in names}
    if not chosen:
        return await _page(ctx, credential, _("Choose at least one thing to show in the QR code."), 422)
    r = await ctx.api("POST", "/credentials/v1/qr", json={"presentation": card(credential["credential"], chosen)})
    if r.status_code != 200:
        message = _("These do not fit in one QR code. Choose fewer.") if r.json().get("error") == "oversized_qr" \
            else _("The QR code could not be made.")
        return await _page(ctx, credential, message, 422, chosen)
    answer = r.json()
    shown = {k: v for k, v in answer["claims"].items() if k not in ("iss", "iat", "exp", "vct", "nbf", "status")}
    return ctx.render("credential_qr.html", title=_("Your QR code"), svg=answer["svg"], qr_text=answer["qr_text"],
                      claims=shown, label=claim_label, value=claim_value, section="credentials")


@router.post("/remove")
async def remove(ctx: Ctx = Depends(context)) -> Response:
    _form, _credential, stop = await _posted(ctx)
    if stop is not None:
        return stop
    response = ctx.redirect(session.WALLET_PATH, _("The credential is removed from this browser."))
    response.delete_cookie(session.WALLET_COOKIE, path=session.WALLET_PATH)
    return response
