"""The operator's enrolment review queue (``/operator/reviews``): enrolments deduplication
could not decide, each beside its possible duplicates, decided with a mandatory reason —
through identity's ``GET /identity/v1/reviews[/{id}]`` and ``POST /identity/v1/reviews/{id}``
(Cedar ``identity:review``: the identity authority; other operators are refused there and
the console does not list the page for them)."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web.i18n import _
from dpistack.web.operator import _need_login
from dpistack.web.pages import Ctx, context, form_of

log = logging.getLogger("dpistack.web")
router = APIRouter(prefix="/operator/reviews", include_in_schema=False)
ENROLMENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FIELDS = ("names", "birth_date", "sex", "birth_place", "address", "parents")


def field_label(name: str) -> str:
    return {"names": _("Names"), "birth_date": _("Date of birth"), "sex": _("Sex"), "birth_place": _("Place of birth"),
            "address": _("Address"), "parents": _("Parents (UIN)")}.get(name, name)


def _not_found(ctx: Ctx) -> Response:
    return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back and "
                                              "choose from the list."), _("Go back"), "/operator/reviews")


@router.get("")
async def queue(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await ctx.api("GET", "/identity/v1/reviews", token=ctx.session.token, params={"limit": 100})
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    return ctx.render("reviews.html", title=_("Enrolment reviews"), reviews=r.json(), section="reviews")


async def _review_page(ctx: Ctx, enrolment_id: str, errors: dict | None = None, decision: str = "",
                       reason: str = "", status: int = 200) -> Response:
    r = await ctx.api("GET", f"/identity/v1/reviews/{enrolment_id}", token=ctx.session.token)
    if r.status_code == 404:
        return _not_found(ctx)
    if r.status_code == 409:
        return ctx.problem(409, _("This review is already decided"),
                           _("Someone has decided this enrolment already. Choose another one from the queue."),
                           _("Back to the queue"), "/operator/reviews")
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    item = r.json()
    return ctx.render("review.html", status, title=_("Review of enrolment {id}").format(id=enrolment_id[:8]),
                      item=item, fields=FIELDS, label=field_label, errors=errors or {}, decision=decision,
                      reason=reason, section="reviews")


@router.get("/{enrolment_id}")
async def review(enrolment_id: str, ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not ENROLMENT_ID.match(enrolment_id):
        return _not_found(ctx)
    return await _review_page(ctx, enrolment_id)


@router.post("/{enrolment_id}/decision")
async def decide(enrolment_id: str, ctx: Ctx = Depends(context)) -> Response:
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return ctx.csrf_failed()
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not ENROLMENT_ID.match(enrolment_id):
        return _not_found(ctx)
    decision, reason = str(form.get("decision", "")), str(form.get("reason", "")).strip()
    errors: dict[str, str] = {}
    duplicate_of = None
    if decision.startswith("duplicate:") and re.fullmatch(r"[0-9]{10}", decision[10:]):
        duplicate_of = decision[10:]
    elif decision not in ("issue", "reject"):
        errors["decision"] = _("Choose whether this is a new person, the same person as a record found, or an "
                               "enrolment to reject.")
    if not reason:
        errors["reason"] = _("Give the reason for your decision: it is recorded with it.")
    elif len(reason) > 1000:
        errors["reason"] = _("The reason must be at most 1000 characters.")
    if errors:  # the choice and the reason are kept
        return await _review_page(ctx, enrolment_id, errors, decision, reason, 422)
    body = {"decision": "duplicate" if duplicate_of else decision, "reason": reason,
            **({"duplicate_of": duplicate_of} if duplicate_of else {})}
    r = await ctx.api("POST", f"/identity/v1/reviews/{enrolment_id}", token=ctx.session.token, json=body)
    if r.status_code == 409:
        return await _review_page(ctx, enrolment_id)  # decided meanwhile: says so
    if r.status_code == 422:
        log.info("portal: review decision on %s refused (%s)", enrolment_id, r.text[:200])
        errors["decision"] = _("Your decision was not accepted: {reason}").format(reason=_api_detail(r))
        return await _review_page(ctx, enrolment_id, errors, decision, reason, 422)
    if r.status_code != 200:
        return ctx.api_refused(r, operator=True)
    out = r.json()
    message = {"issued": _("Recorded: a new person. National ID number {uin} is issued.").format(uin=out.get("uin")),
               "duplicate": _("Recorded: the same person as {uin}. No new number is issued.").format(
                   uin=out.get("duplicate_of")),
               "rejected": _("Recorded: the enrolment is rejected.")}.get(out["status"], out["status"])
    return ctx.redirect("/operator/reviews", message)


def _api_detail(r) -> str:
    try:
        return str(r.json().get("detail") or r.status_code)
    except ValueError:
        return str(r.status_code)
