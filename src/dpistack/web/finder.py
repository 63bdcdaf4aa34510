"""The service finder: a question in the person's own words and language → the public
services that answer it, through the catalogue's API (``/services/v1/search``). A GET form,
so it works without JavaScript and a result page can be bookmarked or shared."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web import i18n
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, context

router = APIRouter(include_in_schema=False)
MAX_QUESTION = 300
SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@router.get("/services")
async def finder(ctx: Ctx = Depends(context)) -> Response:
    q = ctx.request.query_params.get("q")
    title = _("Find a public service")
    if q is None:
        listing = await ctx.api("GET", "/services/v1/services", params={"lang": ctx.lang})
        if listing.status_code != 200:
            return ctx.api_refused(listing)
        return ctx.render("services.html", title=title, q="", services=listing.json(), found=None, error=None)
    q = q.strip()
    error = None
    if not q:
        error = _("Enter your question, for example: my wife had a baby, what do I do?")
    elif len(q) > MAX_QUESTION:
        error = _("Your question is too long: use at most {n} characters.").format(n=MAX_QUESTION)
    if error:
        return ctx.render("services.html", 422, title=title, q=q, services=[], found=None, error=error)
    # The logged-in person's names are personal data in a question whatever their form: the
    # catalogue's API redacts them before a language model sees the question (if one is used).
    names = ctx.session.who if ctx.session.logged_in("citizen") else ""
    r = await ctx.api("GET", "/services/v1/search", params={"q": q, "lang": ctx.lang, "limit": 5},
                      headers={"X-Redact-Terms": quote(",".join(names.split()))[:500]} if names else None)
    if r.status_code != 200:
        return ctx.api_refused(r)
    found = r.json()
    answer = found["lang"]
    return ctx.render("services.html", title=title, q=q, services=[], found=found, error=None,
                      answer_lang=answer, answer_dir=i18n.direction(answer),
                      answer_name=i18n.LANGUAGES.get(answer, answer))


@router.get("/services/{service_id}")
async def one_service(service_id: str, ctx: Ctx = Depends(context)) -> Response:
    r = await ctx.api("GET", f"/services/v1/services/{service_id}", params={"lang": ctx.lang}) \
        if SERVICE_ID.match(service_id) else None
    if r is None or r.status_code == 404:
        return ctx.problem(404, _("Not found"), _("There is no such service. Search for the service you need."),
                           _("Find a public service"), "/services")
    if r.status_code != 200:
        return ctx.api_refused(r)
    s = r.json()
    return ctx.render("service.html", title=s["name"], service=s, service_dir=i18n.direction(s["lang"]))
