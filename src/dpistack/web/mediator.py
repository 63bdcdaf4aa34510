"""The operator's view of the information mediator (``/operator/exchange``): the services
catalogue (``GET /exchange/v1/services``), the members and their subsystems (X-Road's
``GET /listClients``) and who may call what: each service beside the participants governance
granted ``data:read`` on its data category (``GET /governance/v1/grants``), which is what the
mediator's Cedar check asks for.

What an operator may change here is what the public APIs let its participant change: a data
provider publishes (``PUT /exchange/v1/services``) or withdraws (``DELETE``, after a
confirmation) a service of its own subsystems; anyone proposes that a participant be granted
access to a service's data category, or that a grant be revoked (``POST
/governance/v1/proposals``, kinds ``access.grant`` / ``access.revoke``): the change takes
effect only once the approvals the governance rules ask for are in, on the proposal's page."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web.i18n import _
from dpistack.web.operator import _need_login
from dpistack.web.pages import Ctx, checked_form, context, detail_of

router = APIRouter(prefix="/operator/exchange", include_in_schema=False)
CODE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def may_call(services: list[dict], grants: list[dict]) -> list[dict]:
    """Each service with the participants whose active ``data:read`` grant on
    ``<category>@<provider>`` lets them call it."""
    readers: dict[tuple[str, str], list[str]] = {}
    for g in grants:
        if g.get("status") == "active" and g.get("action") == "data:read":
            readers.setdefault((g["category"], g["owner_id"]), []).append(g["participant_id"])
    return [{**s, "callers": sorted(set(readers.get((s["category"], s["provider"]), [])))} for s in services]


async def _page(ctx: Ctx, errors: dict | None = None, entered: dict | None = None, status: int = 200,
                confirm: dict | None = None) -> Response:
    token = ctx.session.token
    services = await ctx.api("GET", "/exchange/v1/services", token=token)
    if services.status_code != 200:
        return ctx.api_refused(services, operator=True)
    grants = await ctx.api("GET", "/governance/v1/grants", token=token)
    clients = await ctx.api("GET", "/listClients", token=token)
    for r in (grants, clients):
        if r.status_code != 200:
            return ctx.api_refused(r, operator=True)
    members: dict[str, dict] = {}
    for m in clients.json().get("member", []):
        ident = m["id"]
        row = members.setdefault(ident["member_code"], {"code": ident["member_code"], "name": m.get("name", ""),
                                                        "class": ident["member_class"], "subsystems": []})
        if ident.get("subsystem_code"):
            row["subsystems"].append(ident["subsystem_code"])
    mine = members.get(ctx.session.who, {}).get("subsystems", [])
    active = [g for g in grants.json() if g["status"] == "active" and g["action"] == "data:read"]
    return ctx.render("exchange.html", status, title=_("Data exchange"),
                      services=may_call(services.json(), grants.json()), grants=active, my_subsystems=mine,
                      provider="data-provider" in ctx.session.roles, members=[m for m in members.values()
                                                                               if m["subsystems"]],
                      errors=errors or {}, entered=entered or {}, confirm=confirm, section="exchange")


@router.get("")
async def exchange(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    return await _page(ctx)


async def _posted(ctx: Ctx) -> tuple[dict, Response | None]:
    return await checked_form(ctx, _need_login)


def _entries(form: dict, *names: str) -> dict:
    return {n: str(form.get(n, "")).strip() for n in names}


@router.post("/services")
async def publish(ctx: Ctx = Depends(context)) -> Response:
    """Publish (or update) a service of one of the operator's subsystems."""
    form, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "subsystem", "service_code", "backend_url", "category", "personal_data")
    errors: dict[str, str] = {}
    if not CODE.match(entered["subsystem"]):
        errors["subsystem"] = _("Choose the subsystem that offers the service.")
    if not CODE.match(entered["service_code"]):
        errors["service-code"] = _("Enter the service code: letters, digits, dots, dashes or colons, at most 64.")
    if not re.match(r"^https?://[^\s@]{4,2040}$", entered["backend_url"]):
        errors["backend-url"] = _("Enter the address of the service's back end, starting with https:// or http://.")
    if not SLUG.match(entered["category"]):
        errors["category"] = _("Enter the data category in lower case letters, digits and dashes, for example "
                               "land-parcels.")
    if entered["personal_data"] not in ("yes", "no"):
        errors["personal-data"] = _("Say whether the service returns personal data.")
    if not errors:
        r = await ctx.api("PUT", "/exchange/v1/services", token=ctx.session.token, json={
            "subsystem": entered["subsystem"], "service_code": entered["service_code"],
            "backend_url": entered["backend_url"], "category": entered["category"],
            "personal_data": entered["personal_data"] == "yes"})
        if r.status_code == 200:
            return ctx.redirect("/operator/exchange", _("The service {id} is published.").format(id=r.json()["id"]))
        if r.status_code not in (404, 409, 422):
            return ctx.api_refused(r, operator=True)
        errors["service-code"] = _("The mediator did not accept this: {reason}").format(reason=detail_of(r))
    return await _page(ctx, errors, entered, 422)


@router.post("/services/{subsystem}/{service_code}/withdraw")
async def withdraw(subsystem: str, service_code: str, ctx: Ctx = Depends(context)) -> Response:
    """Without ``confirm=yes``: the question (nothing changes); with it: withdraw the service."""
    form, stop = await _posted(ctx)
    if stop is not None:
        return stop
    if not (CODE.match(subsystem) and CODE.match(service_code)):
        return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back "
                                                  "and choose from the list."), _("Go back"), "/operator/exchange")
    if form.get("confirm") != "yes":
        return await _page(ctx, confirm={"subsystem": subsystem, "service_code": service_code})
    r = await ctx.api("DELETE", f"/exchange/v1/services/{subsystem}/{service_code}", token=ctx.session.token)
    if r.status_code != 204:
        return ctx.api_refused(r, operator=True)
    return ctx.redirect("/operator/exchange", _("The service {subsystem}/{code} is withdrawn.").format(
        subsystem=subsystem, code=service_code))


async def _propose(ctx: Ctx, kind: str, payload: dict) -> tuple[Response | None, str | None]:
    r = await ctx.api("POST", "/governance/v1/proposals", token=ctx.session.token,
                      json={"kind": kind, "payload": payload})
    if r.status_code == 201:
        p = r.json()
        return ctx.redirect(f"/operator/proposals/{p['id']}", _(
            "Your proposal is submitted. It takes effect once these approve it: {who}.").format(
            who=", ".join(p.get("required") or []))), None
    if r.status_code in (400, 409, 422):
        return None, detail_of(r)
    return ctx.api_refused(r, operator=True), None


@router.post("/grants")
async def propose_grant(ctx: Ctx = Depends(context)) -> Response:
    """Propose (``access.grant``) that a participant may call a service: ``data:read`` on the
    service's data category, owned by its provider."""
    form, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "grantee", "service", "purpose")
    errors: dict[str, str] = {}
    category, _sep, owner = entered["service"].partition("@")
    if not (SLUG.match(category) and SLUG.match(owner)):
        errors["service"] = _("Choose the service whose data the participant may read.")
    if not SLUG.match(entered["grantee"]):
        errors["grantee"] = _("Enter the participant ID of the institution that may call it, for example "
                              "ministry-of-health.")
    if not entered["purpose"]:
        errors["purpose"] = _("Give the purpose: what the institution needs the data for.")
    elif len(entered["purpose"]) > 500:
        errors["purpose"] = _("The purpose must be 500 characters or fewer.")
    if not errors:
        done, refused = await _propose(ctx, "access.grant", {
            "participant_id": entered["grantee"], "action": "data:read", "category": category, "owner_id": owner,
            "purpose": entered["purpose"]})
        if done is not None:
            return done
        errors["grantee"] = _("Governance did not accept this proposal: {reason}").format(reason=refused)
    return await _page(ctx, errors, entered, 422)


@router.post("/grants/revoke")
async def propose_revoke(ctx: Ctx = Depends(context)) -> Response:
    """Propose (``access.revoke``) that a grant end, with a reason."""
    form, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "grant_id", "revoke_reason")
    errors: dict[str, str] = {}
    if not entered["grant_id"] or len(entered["grant_id"]) > 36:
        errors["grant-id"] = _("Choose the access right to revoke.")
    if not entered["revoke_reason"]:
        errors["revoke-reason"] = _("Give the reason for revoking this access right.")
    elif len(entered["revoke_reason"]) > 1000:
        errors["revoke-reason"] = _("The reason must be 1000 characters or fewer.")
    if not errors:
        done, refused = await _propose(ctx, "access.revoke", {"grant_id": entered["grant_id"],
                                                              "reason": entered["revoke_reason"]})
        if done is not None:
            return done
        errors["grant-id"] = _("Governance did not accept this proposal: {reason}").format(reason=refused)
    return await _page(ctx, errors, entered, 422)
