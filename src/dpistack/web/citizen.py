"""The citizen portal: log in with the national ID through the platform's OpenID provider
(authorization code + PKCE, private_key_jwt, as any relying party), then the person's own
record, virtual IDs, authentication history and locks, all through the residents' API
(``/resident/v1``) with the OpenID access token (scope ``resident``)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dpistack.core.crypto import constant_time_equal
from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER
from dpistack.web import session, setup
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, context, form_of

log = logging.getLogger("dpistack.web")
router = APIRouter(include_in_schema=False)
AUTH_TYPES = ("otp", "demographics", "biometrics")
RETURN_TO = re.compile(r"^/services/[a-z0-9][a-z0-9-]{1,62}/apply$")  # where a login may come back to
_client_ready: set[tuple[str, str]] = set()  # (instance, public URL) whose client's redirect URI this process updated


def auth_type_label(auth_type: str) -> str:
    return {"otp": _("One-time code (SMS or e-mail)"), "demographics": _("Name, date of birth and sex"),
            "biometrics": _("Fingerprints, face or iris")}.get(auth_type, auth_type)


async def _discovery(ctx: Ctx) -> dict:
    return (await ctx.api("GET", "/.well-known/openid-configuration")).json()


async def portal_token(ctx: Ctx) -> str | None:
    """An access token of the portal as a participant (client credentials, ``private_key_jwt``
    with its own key), for the APIs it calls in its own name; None if it cannot get one."""
    key = credentials.load_private_jwk(ctx.platform.settings.data_dir, setup.PARTICIPANT)
    if key is None:
        return None
    token_url = (await _discovery(ctx))["token_endpoint"]
    token = await ctx.api("POST", "/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
        "client_assertion": credentials.client_assertion(setup.PARTICIPANT, key, token_url)})
    if token.status_code != 200:
        log.warning("portal: its participant could not authenticate (%s)", token.status_code)
        return None
    return token.json()["access_token"]


async def _ensure_client(ctx: Ctx) -> bool:
    """Once per process: the portal's OIDC client lists this instance's callback address (the
    public URL may have changed since setup). Through client-mgmt, as the portal itself."""
    base = ctx.platform.settings.public_url
    done = (str(ctx.platform.settings.data_dir), base)
    if done in _client_ready:
        return True
    data_dir = ctx.platform.settings.data_dir
    key = credentials.load_private_jwk(data_dir, setup.PARTICIPANT)
    client_key = credentials.load_private_jwk(data_dir, setup.CLIENT_KEY)
    if key is None or client_key is None:
        return False
    token = await portal_token(ctx)
    if token is None:
        return False
    body = {k: v for k, v in setup.client_body(ctx.platform, client_key).items() if k != "publicKey"}
    r = await ctx.api("PUT", f"/client-mgmt/oidc-client/{setup.CLIENT_ID}", token=token,
                      json={"requestTime": "2026-01-01T00:00:00.000Z", "request": {**body, "status": "active"}})
    if r.status_code != 200:
        log.warning("portal: updating its OIDC client failed (%s)", r.status_code)
        return False
    _client_ready.add(done)
    return True


@router.get("/login")
async def login(ctx: Ctx = Depends(context)) -> Response:
    if not setup.is_set_up(ctx.platform) or not await _ensure_client(ctx):
        return ctx.problem(503, _("The portal is not set up yet"),
                           _("The operator of this instance has to register the portal first (dpi portal setup)."))
    verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    meta = await _discovery(ctx)
    query = urlencode({"response_type": "code", "client_id": setup.CLIENT_ID, "redirect_uri": setup.callback_url(
        ctx.platform), "scope": "openid resident", "state": state, "nonce": nonce, "code_challenge": challenge,
        "code_challenge_method": "S256", "claims": '{"userinfo": {"name": {"essential": true}}}',
        "claims_locales": ctx.lang, "ui_locales": ctx.lang})
    response = ctx.redirect(f"{meta['authorization_endpoint']}?{query}")
    back = ctx.request.query_params.get("next", "")
    pending = {"s": state, "n": nonce, "v": verifier, "t": time.time()}
    if RETURN_TO.match(back):  # a page of this portal to come back to (never another site)
        pending["x"] = back
    response.set_cookie(session.LOGIN_COOKIE, ctx.sealer.seal(pending, session.LOGIN_COOKIE),
                        max_age=600, path="/login", httponly=True, samesite="lax",
                        secure=ctx.platform.settings.public_url.startswith("https"))
    return response


@router.get("/login/callback")
async def callback(ctx: Ctx = Depends(context)) -> Response:
    params = ctx.request.query_params
    pending = ctx.sealer.open(ctx.request.cookies.get(session.LOGIN_COOKIE), session.LOGIN_COOKIE)
    start_again = _("Log in again")
    if params.get("error"):
        log.info("portal: login came back with %s", params.get("error"))
        if params.get("error") == "access_denied":
            return ctx.problem(400, _("You did not log in"), _("You chose not to share your information, so you "
                                                               "are not logged in."), start_again, "/login")
        return ctx.problem(400, _("The login did not work"), _("Start again from the beginning."), start_again,
                           "/login")
    if not pending or not params.get("code") or not constant_time_equal(str(pending.get("s")),
                                                                        params.get("state", "")):
        return ctx.problem(400, _("The login did not work"),
                           _("This login was started in another browser or took too long. Start again."),
                           start_again, "/login")
    meta = await _discovery(ctx)
    key = credentials.load_private_jwk(ctx.platform.settings.data_dir, setup.CLIENT_KEY)
    tokens = await ctx.api("POST", "/oauth/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": setup.callback_url(ctx.platform),
        "client_id": setup.CLIENT_ID, "code_verifier": pending["v"], "client_assertion_type": JWT_BEARER,
        "client_assertion": credentials.client_assertion(setup.CLIENT_ID, key, meta["token_endpoint"])})
    if tokens.status_code != 200:
        log.warning("portal: the code exchange was refused (%s)", tokens.status_code)
        return ctx.problem(400, _("The login did not work"), _("Start again from the beginning."), start_again,
                           "/login")
    body = tokens.json()
    keys = KeySet.import_key_set((await ctx.api("GET", "/.well-known/jwks.json")).json())
    try:
        id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
        ok = (id_token.get("iss") == meta["issuer"] and id_token.get("aud") == setup.CLIENT_ID
              and id_token.get("nonce") == pending["n"] and id_token.get("exp", 0) > time.time())
        info = await ctx.api("GET", "/oidc/userinfo", token=body["access_token"])
        name = jwt.decode(info.text, keys, algorithms=["RS256"]).claims.get("name", "") if info.status_code == 200 \
            else ""
    except (JoseError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        log.warning("portal: the ID token did not verify")
        return ctx.problem(400, _("The login did not work"), _("Start again from the beginning."), start_again,
                           "/login")
    ctx.session.kind, ctx.session.token, ctx.session.who = "citizen", body["access_token"], name
    ctx.session.expires = time.time() + int(body.get("expires_in", 300))
    back = pending.get("x")
    response = ctx.redirect(back if isinstance(back, str) and RETURN_TO.match(back) else "/me")
    response.delete_cookie(session.LOGIN_COOKIE, path="/login")
    return response


def _need_login(ctx: Ctx, back: str | None = None) -> Response | None:
    """None when a citizen is logged in; else the page to log in (coming back to ``back``, one
    of the pages ``RETURN_TO`` allows, after it)."""
    if ctx.session.logged_in("citizen"):
        return None
    if ctx.session.expired:
        return ctx.session_ended()
    return ctx.redirect("/login" + (f"?{urlencode({'next': back})}" if back and RETURN_TO.match(back) else ""))


@router.post("/logout")
async def logout(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if ctx.session.kind == "citizen" and ctx.session.token:
        await ctx.api("POST", "/resident/v1/logout", token=ctx.session.token)  # revokes the access token
    ctx.session.log_out()
    response = ctx.redirect("/", _("You are logged out."))
    response.delete_cookie(session.WALLET_COOKIE, path=session.WALLET_PATH)  # the credential goes with the login
    return response


@router.get("/me")
async def my_record(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await ctx.api("GET", "/resident/v1/me", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.render("me.html", title=_("My identity data"), record=r.json(), section="me")


@router.get("/me/vids")
async def my_vids(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    return await _vids_page(ctx)


async def _vids_page(ctx: Ctx, error: str | None = None, chosen: str = "", status: int = 200) -> Response:
    r = await ctx.api("GET", "/resident/v1/me", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.render("vids.html", status, title=_("My virtual IDs"), vids=r.json()["vids"], error=error,
                      chosen=chosen, section="vids")


@router.post("/me/vids")
async def create_vid(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    vid_type = form.get("vid_type", "")
    if vid_type not in ("perpetual", "temporary"):
        return await _vids_page(ctx, _("Choose which kind of virtual ID you want."), status=422)
    r = await ctx.api("POST", "/resident/v1/vids", token=ctx.session.token, json={"vid_type": vid_type})
    if r.status_code != 201:
        return ctx.api_refused(r)
    return ctx.redirect("/me/vids", _("Your new virtual ID is {vid}.").format(vid=r.json()["vid"]))


@router.post("/me/vids/{vid}/revoke")
async def revoke_vid(vid: str, ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not (vid.isascii() and vid.isdigit() and len(vid) == 16):
        return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back "
                                                  "and choose from the list."), _("Go back"), "/me/vids")
    r = await ctx.api("POST", f"/resident/v1/vids/{vid}/revoke", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.redirect("/me/vids", _("The virtual ID {vid} is revoked.").format(vid=vid))


@router.get("/me/history")
async def my_history(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await ctx.api("GET", "/resident/v1/auth-history", token=ctx.session.token, params={"limit": 100})
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.render("history.html", title=_("My authentication history"), events=r.json(), section="history")


@router.get("/me/locks")
async def my_locks(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await ctx.api("GET", "/resident/v1/auth-locks", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.render("locks.html", title=_("My authentication locks"), locks=r.json(), types=AUTH_TYPES,
                      label=auth_type_label, section="locks")


@router.post("/me/locks")
async def change_lock(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    auth_type, action = form.get("auth_type", ""), form.get("action", "")
    if auth_type not in AUTH_TYPES or action not in ("lock", "unlock"):
        return ctx.problem(422, _("This was not accepted"), _("Choose a way of authenticating to lock or unlock."),
                           _("Go back"), "/me/locks")
    r = await ctx.api("PUT", "/resident/v1/auth-locks", token=ctx.session.token, json={auth_type: action == "lock"})
    if r.status_code != 200:
        return ctx.api_refused(r)
    message = (_("{what} is locked: no service can authenticate you this way until you unlock it.")
               if action == "lock" else _("{what} is unlocked."))
    return ctx.redirect("/me/locks", message.format(what=auth_type_label(auth_type)))
