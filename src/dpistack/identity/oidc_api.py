"""HTTP face of the OpenID Connect provider: discovery, the login pages, userinfo and client
management (GovStack Identity BB paths). The token endpoint is the platform's
``/oauth/token``, to which this module adds the ``authorization_code`` grant."""

from __future__ import annotations

import logging
import time
from importlib import resources

import httpx

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import Caller
from dpistack.core.crypto import constant_time_equal
from dpistack.core import i18n
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.governance.oauth import GRANT_HANDLERS
from dpistack.governance.policy import authorize, require
from dpistack.identity import oidc
from dpistack.identity.schemas import OidcClientCreate, OidcClientUpdate
from dpistack.identity.service import IdentityContext

log = logging.getLogger("dpistack.identity.oidc")
router = APIRouter(tags=["oidc"])
templates = Jinja2Templates(directory=str(resources.files("dpistack.identity") / "templates"))
# The login pages speak the person's language: the relying party's `ui_locales` (OIDC Core
# §3.1.2.1), carried through the steps in a hidden field, else the platform's language cookie,
# else Accept-Language (identity's own catalogue, identity/locale).
_messages = i18n.Messages("dpistack.identity")
_ = _messages.gettext
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(_messages.gettext, _messages.ngettext, newstyle=True)
GRANT_HANDLERS["authorization_code"] = oidc.exchange_code

COOKIE = "dpi_login"
def N_(message: str) -> str:  # a message to translate when it is shown, not here
    return message


CLAIM_LABELS = {"name": N_("Your full name"), "given_name": N_("Your given name"),
                "family_name": N_("Your family name"), "gender": N_("Your sex"),
                "birthdate": N_("Your date of birth"), "address": N_("Your address"),
                "phone_number": N_("Your phone number"), "email": N_("Your e-mail address"),
                "age_over_18": N_("Whether you are over 18")}


def _speak(request: Request, form: dict | None = None) -> str:
    """Choose and activate the language of this login page."""
    asked = i18n.first_offered(str((form or {}).get("ui_locales") or request.query_params.get("ui_locales") or ""))
    lang = i18n.choose(asked, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")).lang
    i18n.activate(lang)
    return lang


# -- discovery and userinfo ---------------------------------------------------------------------

@router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata (OIDC Discovery 1.0)")
def configuration(platform: Platform = Depends(get_platform)) -> dict:
    return oidc.discovery(platform)


@router.get("/.well-known/oauth-authorization-server",
            summary="OAuth 2.0 Authorization Server Metadata (RFC 8414): the same document")
def authorization_server(platform: Platform = Depends(get_platform)) -> dict:
    return oidc.discovery(platform)


ISSUER_METADATA_SECONDS = 60


async def _credential_issuer(request: Request, platform: Platform) -> dict | None:
    """The platform's credential issuer metadata, read from its public API (in process) and
    kept a minute; None when no credential issuer answers (the block is not enabled)."""
    cached = platform.extras.get("oidc_credential_issuer")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=platform.settings.public_url) as http:
        answer = await http.get("/.well-known/openid-credential-issuer")
    try:
        meta = answer.json() if answer.status_code == 200 else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not {"credential_issuer", "credential_endpoint"} <= set(meta):
        meta = None
    platform.extras["oidc_credential_issuer"] = (time.monotonic() + ISSUER_METADATA_SECONDS, meta)
    return meta


@router.get("/oidc/userinfo", summary="The person's consented claims, as a signed JWT (application/jwt)",
            responses={200: {"content": {"application/jwt": {}}}, 401: {"description": "invalid_token"}})
def userinfo(request: Request, platform: Platform = Depends(get_platform)) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise oidc.InvalidToken("send the access token as Authorization: Bearer <token>")
        signed = oidc.userinfo(platform, token.strip())
    except oidc.InvalidToken as exc:
        log.warning("userinfo refused: %s", exc)
        return JSONResponse({"error": "invalid_token", "error_description": str(exc)}, status_code=401,
                            headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'})
    return Response(signed, media_type="application/jwt", headers={"Cache-Control": "no-store"})


# -- the login pages ----------------------------------------------------------------------------

def _page(request: Request, template: str, status: int = 200, form_target: str | None = None, **context) -> HTMLResponse:
    lang = i18n.current()
    response = templates.TemplateResponse(request, template, {"error": None, "lang": lang, "dir": i18n.direction(lang),
                                                              **context}, status_code=status)
    targets = "'self'" + (f" {form_target}" if form_target else "")
    response.headers.update({
        "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; form-action {targets}; "
                                   "frame-ancestors 'none'; base-uri 'none'",
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
        "Content-Language": lang})
    return response


def _error_page(request: Request, exc: oidc.AuthorizeError) -> Response:
    log.warning("authorization refused (%s): %s", exc.error, exc.description)
    if exc.redirect_uri:
        return RedirectResponse(exc.location(), status_code=303)
    return _page(request, "error.html", 400, title=_("This login cannot go on"), message=exc.description)


def _origin(uri: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


@router.get("/authorize", response_class=HTMLResponse, summary="OIDC authorization endpoint: the login page")
async def authorize_page(request: Request, platform: Platform = Depends(get_platform)) -> Response:
    _speak(request)
    params = {k: v for k, v in request.query_params.items()}
    issuer_metadata = await _credential_issuer(request, platform) if oidc.asks_for_credentials(params) else None

    def step() -> tuple[str, str]:
        with platform.db.uow(write=True) as session:
            txn, client = oidc.start(session, platform, params, issuer_metadata)
            return txn.id, client.name

    try:
        txn_id, client_name = await run_in_threadpool(step)
    except oidc.AuthorizeError as exc:
        return _error_page(request, exc)
    response = _page(request, "login.html", title=_("Log in with your national ID"), client_name=client_name,
                     transaction=txn_id, individual_id="")
    response.set_cookie(COOKIE, txn_id, max_age=int(oidc.LOGIN_TTL.total_seconds()), path="/authorize",
                        httponly=True, samesite="lax", secure=platform.settings.public_url.startswith("https"))
    return response


async def _form(request: Request) -> dict[str, str | list[str]]:
    try:
        raw = await request.form()
    except Exception:  # a body that is not a form: treat as empty
        return {}
    return {"claims": [v for v in raw.getlist("claims") if isinstance(v, str)],
            **{k: v for k, v in raw.items() if isinstance(v, str) and k != "claims"}}


def _bound(request: Request, form: dict) -> str:
    """The transaction of this browser: the form's and the cookie's must agree (CSRF)."""
    txn_id = str(form.get("transaction", ""))
    cookie = request.cookies.get(COOKIE, "")
    if not txn_id or not constant_time_equal(txn_id, cookie):
        raise oidc.AuthorizeError("invalid_request", "This login was started in another browser or has expired. "
                                                     "Go back to the application and start again.")
    return txn_id


def _valid_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) in (10, 16)


@router.post("/authorize/otp", response_class=HTMLResponse, include_in_schema=False)
async def login_otp(request: Request, platform: Platform = Depends(get_platform)) -> Response:
    form = await _form(request)
    _speak(request, form)
    individual_id = str(form.get("individual_id", "")).strip()

    def step() -> Response:
        txn_id = _bound(request, form)
        with platform.db.uow(write=True) as session:
            current = oidc.open_step(session, txn_id, "login")
            name = current.client.name
            if not _valid_id(individual_id):
                return _page(request, "login.html", 422, title=_("Log in with your national ID"), client_name=name,
                             transaction=txn_id, individual_id="",
                             error=_("Enter your UIN (10 digits) or your VID (16 digits)."))
            if not platform.rate_limiter.hit("5/10 minutes", "oidc-otp", txn_id):
                return _page(request, "login.html", 429, title=_("Log in with your national ID"), client_name=name,
                             transaction=txn_id, individual_id="", error=_("Too many codes asked for; wait a while."))
            oidc.send_otp(session, IdentityContext.of(platform), current, individual_id)
        return _page(request, "otp.html", title=_("Enter your one-time code"), transaction=txn_id,
                     individual_id=individual_id)

    try:
        return await run_in_threadpool(step)
    except oidc.AuthorizeError as exc:
        return _error_page(request, exc)


@router.post("/authorize/login", response_class=HTMLResponse, include_in_schema=False)
async def login_submit(request: Request, platform: Platform = Depends(get_platform)) -> Response:
    form = await _form(request)
    _speak(request, form)
    individual_id, code = str(form.get("individual_id", "")).strip(), str(form.get("otp", "")).strip()

    def step() -> Response:
        txn_id = _bound(request, form)
        with platform.db.uow(write=True) as session:
            current = oidc.open_step(session, txn_id, "login")
            ok = (_valid_id(individual_id) and len(code) == 6 and code.isdigit()
                  and oidc.login(session, IdentityContext.of(platform), current, individual_id, code))
            if not ok:
                # The attempt is in the person's history; the page never says what was wrong.
                return _page(request, "otp.html", 401, title=_("Enter your one-time code"), transaction=txn_id,
                             individual_id=individual_id,
                             error=_("That did not work. Check the code, or go back and ask for a new one."))
            txn = current.txn
            return _page(request, "consent.html", title=_("Share your information?"), client_name=current.client.name,
                         transaction=txn_id, essential=txn.essential_claims, voluntary=txn.voluntary_claims,
                         labels={k: _(v) for k, v in CLAIM_LABELS.items()}, form_target=_origin(txn.redirect_uri),
                         resident=oidc.RESIDENT_SCOPE in txn.scope.split(),
                         credentials=(txn.credential_request or {}).get("credentials", []))

    try:
        return await run_in_threadpool(step)
    except oidc.AuthorizeError as exc:
        return _error_page(request, exc)


@router.post("/authorize/consent", include_in_schema=False)
async def consent_submit(request: Request, platform: Platform = Depends(get_platform)) -> Response:
    form = await _form(request)
    _speak(request, form)

    def step() -> Response:
        txn_id = _bound(request, form)
        with platform.db.uow(write=True) as session:
            current = oidc.open_step(session, txn_id, "authenticated")
            location = oidc.consent(session, IdentityContext.of(platform), platform, current,
                                    allow=form.get("decision") == "allow", chosen=list(form.get("claims", [])))
        response = RedirectResponse(location, status_code=303)
        response.delete_cookie(COOKIE, path="/authorize")
        return response

    try:
        return await run_in_threadpool(step)
    except oidc.AuthorizeError as exc:
        return _error_page(request, exc)


# -- client management (GovStack envelope) ------------------------------------------------------

FIELD_ERRORS = {"clientId": "invalid_client_id", "clientName": "invalid_client_name", "relyingPartyId": "invalid_rp_id",
                "logoUri": "invalid_uri", "redirectUris": "invalid_redirect_uri", "userClaims": "invalid_claim",
                "authContextRefs": "invalid_acr", "publicKey": "invalid_public_key", "grantTypes": "invalid_grant_type",
                "clientAuthMethods": "invalid_client_auth"}
ENVELOPE = {"content": {"application/json": {}}}


def _envelope(status: int, client_id: str | None = None, errors: list[dict] | None = None) -> JSONResponse:
    body: dict = {"responseTime": iso(utcnow()), "errors": errors or []}
    if client_id:
        body["response"] = {"clientId": client_id}
    return JSONResponse(body, status_code=status)


async def _client_request(request: Request, model):
    try:
        body = await request.json()
    except ValueError:
        return None, _envelope(400, errors=[{"errorCode": "invalid_request", "errorMessage": "the body is not JSON"}])
    if not isinstance(body, dict) or not isinstance(body.get("request"), dict) or "requestTime" not in body:
        return None, _envelope(400, errors=[{"errorCode": "invalid_request",
                                             "errorMessage": "expected {requestTime, request: {...}}"}])
    try:
        return model.model_validate(body["request"]), None
    except ValidationError as exc:
        errors = [{"errorCode": FIELD_ERRORS.get(str(e["loc"][0]) if e["loc"] else "", "invalid_input"),
                   "errorMessage": f"{'.'.join(map(str, e['loc']))}: {e['msg']}"} for e in exc.errors()]
        return None, _envelope(400, errors=errors)


def _manage(platform: Platform, caller: Caller, action) -> JSONResponse:
    try:
        with platform.db.uow(write=True) as session:
            authority = authorize(session, caller.participant_id, "identity:review").allowed
            client = action(session, authority)
            client_id = client.client_id
    except oidc.ClientError as exc:
        log.warning("client management refused for %s: %s", caller.participant_id, exc.message)
        return _envelope(exc.status, errors=[{"errorCode": exc.code, "errorMessage": exc.message}])
    log.info("OIDC client %s saved by %s", client_id, caller.participant_id)
    return _envelope(200, client_id)


@router.post("/client-mgmt/oidc-client", tags=["oidc"], summary="Register an OIDC client of a relying party",
             responses={200: ENVELOPE, 400: ENVELOPE, 403: ENVELOPE, 409: ENVELOPE})
async def create_client(request: Request, caller: Caller = Depends(require("identity:oidc-client")),
                        platform: Platform = Depends(get_platform)) -> JSONResponse:
    body, error = await _client_request(request, OidcClientCreate)
    if error:
        return error
    return await run_in_threadpool(
        _manage, platform, caller, lambda s, authority: oidc.create_client(s, caller.participant_id, authority, body))


@router.put("/client-mgmt/oidc-client/{client_id}", tags=["oidc"], summary="Update an OIDC client",
            responses={200: ENVELOPE, 400: ENVELOPE, 403: ENVELOPE, 404: ENVELOPE})
async def update_client(client_id: str, request: Request, caller: Caller = Depends(require("identity:oidc-client")),
                        platform: Platform = Depends(get_platform)) -> JSONResponse:
    body, error = await _client_request(request, OidcClientUpdate)
    if error:
        return error
    return await run_in_threadpool(
        _manage, platform, caller,
        lambda s, authority: oidc.update_client(s, caller.participant_id, authority, client_id, body))
