"""The person's consents (``/me/consents``): list them, answer a data consumer's request
(grant or refuse) and revoke one, through the consent block's public API. The person's word
for the consent API is the short-lived person token the residents' API issues
(``POST /resident/v1/consent-token``, which accepts the portal's OpenID access token with the
scope ``resident``): consent never sees the UIN nor the portal's token. Every change is a POST
form with the CSRF token; revoking asks for confirmation first."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web.citizen import _need_login
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, checked_form, context

router = APIRouter(prefix="/me/consents", include_in_schema=False)
CONSENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def status_label(status: str) -> str:
    return {"REQUESTED": _("Waiting for your answer"), "ACTIVE": _("Given"), "REJECTED": _("Refused"),
            "REVOKED": _("Revoked"), "EXPIRED": _("Expired")}.get(status, status)


async def _person_token(ctx: Ctx) -> tuple[str | None, Response | None]:
    """The person token for the consent API, or the page that says why there is none."""
    r = await ctx.api("POST", "/resident/v1/consent-token", token=ctx.session.token)
    if r.status_code != 200:
        return None, ctx.api_refused(r)
    return r.json()["access_token"], None


def _not_found(ctx: Ctx) -> Response:
    return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back and "
                                              "choose from the list."), _("Go back"), "/me/consents")


async def _list_page(ctx: Ctx, errors: dict | None = None, entered: str = "", status: int = 200) -> Response:
    token, stop = await _person_token(ctx)
    if stop is not None:
        return stop
    r = await ctx.api("GET", "/consent/v1/consents", token=token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    return ctx.render("consents.html", status, title=_("My consents"), consents=r.json(), label=status_label,
                      errors=errors or {}, entered=entered, section="consents")


@router.get("")
async def my_consents(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    code = ctx.request.query_params.get("request")
    if code is not None:  # "answer a request": the code a data consumer gave the person
        code = code.strip().lower()
        if not CONSENT_ID.match(code):
            return await _list_page(ctx, {"request": _("Enter the request code the service gave you, for example "
                                                       "3f2b8c1e-0a4d-4e8b-9c6f-1d2e3f4a5b6c.")}, code, 422)
        return ctx.redirect(f"/me/consents/{code}")
    return await _list_page(ctx)


async def _consent(ctx: Ctx, consent_id: str) -> tuple[dict | None, str | None, Response | None]:
    """(the consent, the person token, None) or (None, None, the page to show instead). A
    consent that is another person's is not found, as the consent API answers."""
    if not CONSENT_ID.match(consent_id):
        return None, None, _not_found(ctx)
    token, stop = await _person_token(ctx)
    if stop is not None:
        return None, None, stop
    r = await ctx.api("GET", f"/consent/v1/consents/{consent_id}", token=token)
    if r.status_code != 200:
        return None, None, (_not_found(ctx) if r.status_code == 404 else ctx.api_refused(r))
    return r.json(), token, None


def _detail(ctx: Ctx, consent: dict, errors: dict | None = None, decision: str = "", status: int = 200,
            confirm: bool = False) -> Response:
    return ctx.render("consent.html", status, title=_("Consent for {consumer}").format(
        consumer=consent["artefact"]["DataConsumer"]["id"]), c=consent, a=consent["artefact"], label=status_label,
        errors=errors or {}, decision=decision, confirm=confirm, section="consents")


@router.get("/{consent_id}")
async def one_consent(consent_id: str, ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    consent, _token, stop = await _consent(ctx, consent_id)
    return stop or _detail(ctx, consent)


async def _posted(ctx: Ctx, consent_id: str) -> tuple[dict, dict | None, str | None, Response | None]:
    """A POST about one of the person's consents: its form, the consent and the token to act with,
    or the page that stops it (a bad CSRF token, no login, not the person's consent)."""
    form, stop = await checked_form(ctx, _need_login)
    if stop is not None:
        return form, None, None, stop
    consent, token, stop = await _consent(ctx, consent_id)
    return form, consent, token, stop


@router.post("/{consent_id}/decision")
async def decide(consent_id: str, ctx: Ctx = Depends(context)) -> Response:
    """Grant (approve) or refuse (reject) a consent a data consumer asked for."""
    form, consent, token, stop = await _posted(ctx, consent_id)
    if stop is not None:
        return stop
    decision = form.get("decision", "")
    if decision not in ("approve", "reject"):
        return _detail(ctx, consent, {"decision": _("Choose whether you give or refuse your consent.")}, status=422)
    r = await ctx.api("POST", f"/consent/v1/consents/{consent_id}/{decision}", token=token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    consumer = consent["artefact"]["DataConsumer"]["id"]
    message = (_("You gave your consent to {consumer}. You can revoke it here at any time.") if decision == "approve"
               else _("You refused the request of {consumer}.")).format(consumer=consumer)
    return ctx.redirect(f"/me/consents/{consent_id}", message)


@router.post("/{consent_id}/revoke")
async def revoke(consent_id: str, ctx: Ctx = Depends(context)) -> Response:
    """Without ``confirm=yes``: the confirmation page (nothing changes); with it: revoke."""
    form, consent, token, stop = await _posted(ctx, consent_id)
    if stop is not None:
        return stop
    if form.get("confirm") != "yes":
        return _detail(ctx, consent, confirm=True)
    r = await ctx.api("POST", f"/consent/v1/consents/{consent_id}/revoke", token=token)
    if r.status_code != 200:
        return ctx.api_refused(r)
    message = _("Your consent to {consumer} is revoked: it can no longer get your data under it.").format(
        consumer=consent["artefact"]["DataConsumer"]["id"])
    return ctx.redirect(f"/me/consents/{consent_id}", message)
