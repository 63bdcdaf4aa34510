"""The operator console: institutions' staff log in as their participant with its key
(private_key_jwt at ``/oauth/token``, as the governance API asks), then see proposals and
approve or reject them (the approval is signed with the approver's key), and the participant
registry. The key is used for the request it comes with and never kept: the session holds
only the five-minute access token. Approvers who keep their key off this server paste an
approval they signed themselves instead."""

from __future__ import annotations

import json
import logging
import re
import time

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, context, form_of

log = logging.getLogger("dpistack.web")
router = APIRouter(prefix="/operator", include_in_schema=False)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
PROPOSAL_ID = re.compile(r"^[0-9a-f-]{36}$")


def _key_from(form: dict) -> ECKey | OKPKey | None:
    raw = form.get("key_file") or form.get("key") or ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
        key = ECKey.import_key(data) if data.get("kty") == "EC" else OKPKey.import_key(data)
    except (ValueError, TypeError, AttributeError, JoseError, KeyError):
        return None
    if not key.is_private:
        return None
    key.ensure_kid()
    return key


def _need_login(ctx: Ctx) -> Response | None:
    if ctx.session.logged_in("operator"):
        return None
    if ctx.session.expired:
        return ctx.session_ended(operator=True)
    return ctx.redirect("/operator/login")


@router.get("")
async def console(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    return ctx.redirect("/operator/proposals")


@router.get("/login")
async def login_page(ctx: Ctx = Depends(context)) -> Response:
    return ctx.render("operator_login.html", title=_("Log in to the operator console"), errors={}, entered={})


@router.post("/login")
async def login(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    participant_id = str(form.get("participant_id", "")).strip()
    errors: dict[str, str] = {}
    if not SLUG.match(participant_id):
        errors["participant_id"] = _("Enter your institution's participant ID, for example identity-authority.")
    key = _key_from(form)
    if key is None:
        errors["key"] = _("Choose your private key file (JWK), or paste its content.")
    if not errors:
        meta = (await ctx.api("GET", "/.well-known/openid-configuration")).json()
        r = await ctx.api("POST", "/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": credentials.client_assertion(participant_id, key, meta["token_endpoint"])})
        if r.status_code == 200:
            ctx.session.kind, ctx.session.token, ctx.session.who = "operator", r.json()["access_token"], participant_id
            ctx.session.expires = time.time() + int(r.json().get("expires_in", 300))
            me = await ctx.api("GET", f"/governance/v1/participants/{participant_id}", token=ctx.session.token)
            ctx.session.roles = me.json().get("roles", []) if me.status_code == 200 else []
            return ctx.redirect("/operator/proposals")
        log.info("portal: operator login refused for %s (%s)", participant_id, r.status_code)
        errors["key"] = _("This key does not belong to an active participant with this ID.")
    # The entries are kept, except the private key: it is never sent back to the browser.
    return ctx.render("operator_login.html", 422, title=_("Log in to the operator console"), errors=errors,
                      entered={"participant_id": participant_id})


@router.get("/proposals")
async def proposals(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    status = ctx.request.query_params.get("status") or "open"
    params = {"limit": 100} | ({"status": status} if status in ("open", "enacted", "rejected") else {})
    r = await ctx.api("GET", "/governance/v1/proposals", token=ctx.session.token, params=params)
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    return ctx.render("proposals.html", title=_("Proposals"), proposals=r.json(), shown=status,
                      section="proposals")


async def _proposal_page(ctx: Ctx, proposal_id: str, errors: dict | None = None, decision: str = "approve",
                         status: int = 200) -> Response:
    r = await ctx.api("GET", f"/governance/v1/proposals/{proposal_id}", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    p = r.json()
    return ctx.render("proposal.html", status, title=_("Proposal {id}").format(id=p["id"][:8]), p=p,
                      payload=json.dumps(p["payload"], indent=2, ensure_ascii=False), errors=errors or {},
                      decision=decision, section="proposals")


@router.get("/proposals/{proposal_id}")
async def proposal(proposal_id: str, ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not PROPOSAL_ID.match(proposal_id):
        return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back "
                                                  "and choose from the list."), _("Go back"), "/operator/proposals")
    return await _proposal_page(ctx, proposal_id)


@router.post("/proposals/{proposal_id}/decision")
async def decide(proposal_id: str, ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not PROPOSAL_ID.match(proposal_id):
        return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back "
                                                  "and choose from the list."), _("Go back"), "/operator/proposals")
    decision = form.get("decision", "")
    errors: dict[str, str] = {}
    if decision not in ("approve", "reject"):
        errors["decision"] = _("Choose whether you approve or reject this proposal.")
    signed = str(form.get("jws", "")).strip()
    key = None if signed else _key_from(form)
    if not signed and key is None:
        errors["key"] = _("Choose your private key file (JWK), or paste its content, or paste an approval you "
                          "signed yourself.")
    if errors:
        return await _proposal_page(ctx, proposal_id, errors, decision, 422)
    if key is not None:
        r = await ctx.api("GET", f"/governance/v1/proposals/{proposal_id}", token=ctx.session.token)
        if r.status_code != 200:
            return ctx.api_refused(r, operator=True)
        p = r.json()
        signed = credentials.sign_approval(ctx.session.who, key, p["id"], p["digest"], decision)
    r = await ctx.api("POST", f"/governance/v1/proposals/{proposal_id}/approvals", token=ctx.session.token,
                      json={"jws": signed})
    if r.status_code == 401:
        return ctx.session_ended(operator=True)
    if r.status_code != 200:
        log.info("portal: approval of %s by %s refused (%s)", proposal_id, ctx.session.who, r.status_code)
        detail = ""
        try:
            detail = str(r.json().get("detail", ""))
        except ValueError:
            pass
        errors["key"] = _("Your decision was not accepted: {reason}").format(reason=detail or r.status_code)
        return await _proposal_page(ctx, proposal_id, errors, decision, 422)
    status = r.json()["status"]
    message = {"enacted": _("Your approval is recorded: the proposal is enacted."),
               "rejected": _("Your decision is recorded: the proposal is rejected.")}.get(
        status, _("Your approval is recorded: more approvals are needed."))
    return ctx.redirect(f"/operator/proposals/{proposal_id}", message)


@router.get("/participants")
async def participants(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await ctx.api("GET", "/governance/v1/participants", token=ctx.session.token)
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    return ctx.render("participants.html", title=_("Participants"), participants=r.json(), section="participants")


@router.post("/logout")
async def logout(ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    ctx.session.log_out()
    return ctx.redirect("/", _("You are logged out."))
