"""Online forms prefilled from what registries already hold (the once-only principle).

``/services/{id}/apply``: the form the catalogue describes for a service (which fields, and
where each can be prefilled from — data in the catalogue, not code here), its answers
prefilled for the logged-in person from

- the person's own record, through the residents' API (``/resident/v1/me``, the OpenID token),
- registry records, through the information mediator (``/r1/…``), the portal calling as its
  participant under the legal basis governance recorded for it, naming the person in
  ``X-Data-Subject`` — so each read is in the message log and in the person's data tracker.

Each prefilled answer says where it came from and can be changed. Then "Check your answers"
(GOV.UK's pattern), then the application is sent to the catalogue's API
(``POST /services/v1/applications``), which keeps it for the service's institution and gives
a reference number. What was prefilled and what was answered travels between the pages in a
sealed hidden field (AES-GCM under the portal's key), so the check page shows exactly what will
be sent and the registries are read once per form, not per page. No JavaScript needed."""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web import i18n, setup
from dpistack.web.citizen import _need_login, portal_token
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, checked_form, context

log = logging.getLogger("dpistack.web")
router = APIRouter(include_in_schema=False)
SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
REFERENCE = re.compile(r"^[A-Z0-9]{1,3}-[A-Z0-9]{8}$")
DRAFT = "application-draft"  # the sealing purpose of the hidden field
DRAFT_SECONDS = 3600
MEMBER_CLASS = "COM"  # the exchange's class for a relying party's participant (exchange/identifiers.py)
IDENTITY = "identity"


def text_in(texts: dict[str, str] | None, lang: str) -> str:
    texts = texts or {}
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def source_label(form: dict, source: str, lang: str) -> str:
    if source == IDENTITY:
        return _("From your national ID record")
    return text_in(form.get("sources", {}).get(source, {}).get("label"), lang) or source


def identity_view(me: dict, lang: str) -> dict[str, str]:
    """The person's record as the form's identity source gives it (names in the page's language
    when the record has them, else the first)."""
    names = me.get("names") or []
    name = next((n for n in names if n.get("language") == lang), None) or (names[0] if names else {})
    given, family = name.get("given", ""), name.get("family", "")
    out = {"uin": me.get("uin"), "full_name": f"{given} {family}".strip(), "given_name": given,
           "family_name": family}
    for key in ("birth_date", "sex", "birth_place", "address", "phone", "email"):
        out[key] = me.get(key)
    return {k: str(v) for k, v in out.items() if v}


def pick(data: Any, path: str) -> str | None:
    """``children/0/full_name`` in a registry's JSON answer (None when it is not there)."""
    for part in path.split("/"):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    if isinstance(data, bool) or data is None or isinstance(data, (dict, list)):
        return None
    return str(data)


async def _service(ctx: Ctx, service_id: str) -> tuple[dict | None, Response | None]:
    r = await ctx.api("GET", f"/services/v1/services/{service_id}", params={"lang": ctx.lang}) \
        if SERVICE_ID.match(service_id) else None
    if r is None or r.status_code == 404:
        return None, ctx.problem(404, _("Not found"), _("There is no such service. Search for the service you "
                                                       "need."), _("Find a public service"), "/services")
    if r.status_code != 200:
        return None, ctx.api_refused(r)
    s = r.json()
    if not s.get("form"):
        return None, ctx.problem(404, _("This service has no online form"),
                                 _("Follow the steps on the service's page to apply."), _("Go back"),
                                 f"/services/{service_id}")
    return s, None


async def _read_registry(ctx: Ctx, service: dict, source: str, spec: dict, uin: str, token: str) -> dict | None:
    """One registry record through the mediator, as the portal, under its legal basis."""
    instance = ctx.platform.settings.xroad_instance
    path = f"/r1/{instance}/{spec['service']}" + spec["path"].replace("{uin}", uin)
    r = await ctx.api("GET", path, token=token, headers={
        "X-Road-Client": f"{instance}/{MEMBER_CLASS}/{setup.PARTICIPANT}", "X-Data-Subject": uin,
        "X-Road-UserId": f"{setup.PARTICIPANT}:resident", "X-Road-Issue": f"application for {service['id']}",
        "X-Road-Id": f"prefill-{secrets.token_hex(8)}"})
    if r.status_code != 200:
        log.info("portal: prefill from %s refused (%s %s)", source, r.status_code, r.headers.get("x-road-error"))
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body if isinstance(body, (dict, list)) else None


async def prefill(ctx: Ctx, service: dict, me: dict) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(prefilled answers, the source of each, the labels of the sources that could not be read)."""
    form = service["form"]
    used = {f["prefill"]["source"] for f in form["fields"] if f.get("prefill")}
    records: dict[str, Any] = {IDENTITY: identity_view(me, ctx.lang)}
    missing: list[str] = []
    registries = [s for s in sorted(used) if s != IDENTITY]
    token = await portal_token(ctx) if registries else None
    for source in registries:
        spec = form.get("sources", {}).get(source)
        record = await _read_registry(ctx, service, source, spec, me["uin"], token) if spec and token else None
        if record is None:
            missing.append(source_label(form, source, ctx.lang))
        records[source] = record
    values, sources = {}, {}
    for f in form["fields"]:
        p = f.get("prefill")
        if not p or records.get(p["source"]) is None:
            continue
        value = records[p["source"]].get(p["field"]) if p["source"] == IDENTITY else pick(records[p["source"]],
                                                                                          p["field"])
        if value:
            values[f["name"]], sources[f["name"]] = value[: f.get("max_length", 200)], p["source"]
    return values, sources, missing


def check(form: dict, answers: dict[str, str]) -> dict[str, str]:
    """{field: message} in the person's language (the catalogue's API checks the same again)."""
    errors = {}
    for f in form["fields"]:
        value = answers.get(f["name"], "")
        limit = f.get("max_length", 200)
        if not value:
            if f.get("required", True):
                errors[f["name"]] = _("Answer this question.")
        elif len(value) > limit:
            errors[f["name"]] = _("This answer is too long: use at most {n} characters.").format(n=limit)
        elif f.get("type") == "date" and not _is_date(value):
            errors[f["name"]] = _("Enter a date as year-month-day, for example 2019-06-02.")
        elif f.get("type") == "number" and not re.fullmatch(r"[0-9]{1,9}", value):
            errors[f["name"]] = _("Enter a whole number, for example 3.")
    return errors


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value))


def _fields(form: dict, lang: str, answers: dict[str, str], prefilled: dict[str, list[str]],
            errors: dict[str, str]) -> list[dict]:
    """What the templates show of each field: its question, answer, where it came from, error."""
    out = []
    for f in form["fields"]:
        name = f["name"]
        answer = answers.get(name, "")
        source = prefilled.get(name)
        kept = source is not None and answer == source[1]  # prefilled, and left as it was
        out.append({"name": name, "type": f.get("type", "text"), "label": text_in(f["label"], lang),
                    "hint": text_in(f.get("hint"), lang), "required": f.get("required", True),
                    "max_length": f.get("max_length", 200), "value": answer, "error": errors.get(name),
                    "source": source_label(form, source[0], lang) if source else None, "kept": kept,
                    "changed": source is not None and not kept})
    return out


def _seal(ctx: Ctx, draft: dict) -> str:
    return ctx.sealer.seal({**draft, "t": time.time()}, DRAFT)


def _open(ctx: Ctx, raw: str | None, service_id: str) -> dict | None:
    draft = ctx.sealer.open(raw, DRAFT)
    if not draft or draft.get("s") != service_id or time.time() - float(draft.get("t") or 0) > DRAFT_SECONDS:
        return None
    return draft


def _form_page(ctx: Ctx, service: dict, draft: dict, answers: dict[str, str], errors: dict[str, str],
               missing: list[str], status: int = 200) -> Response:
    form = service["form"]
    fields = _fields(form, ctx.lang, answers, draft.get("p", {}), errors)
    return ctx.render("apply.html", status, title=_("Apply: {service}").format(service=service["name"]),
                      service=service, fields=fields, errors=[f for f in fields if f["error"]], missing=missing,
                      draft=_seal(ctx, draft), service_dir=i18n.direction(service["lang"]))


async def _me(ctx: Ctx) -> tuple[dict | None, Response | None]:
    r = await ctx.api("GET", "/resident/v1/me", token=ctx.session.token)
    if r.status_code != 200:
        return None, ctx.api_refused(r)
    return r.json(), None


@router.get("/services/{service_id}/apply")
async def start(service_id: str, ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx, f"/services/{service_id}/apply")) is not None:
        return stop
    service, stop = await _service(ctx, service_id)
    if stop is not None:
        return stop
    me, stop = await _me(ctx)
    if stop is not None:
        return stop
    values, sources, missing = await prefill(ctx, service, me)
    draft = {"s": service_id, "id": secrets.token_urlsafe(18),
             "p": {name: [sources[name], value] for name, value in values.items()}}
    return _form_page(ctx, service, draft, values, {}, missing)


async def _posted(ctx: Ctx, service_id: str) -> tuple[dict, dict | None, dict | None, Response | None]:
    """A POST of the form or of the check page: its fields, the service, the draft; or the page
    that stops it (a bad CSRF token, no login, no such form, a draft that is not this form's)."""
    posted, stop = await checked_form(ctx, _need_login)
    if stop is not None:
        return posted, None, None, stop
    service, stop = await _service(ctx, service_id)
    if stop is not None:
        return posted, None, None, stop
    draft = _open(ctx, posted.get("draft"), service_id)
    if draft is None:
        return posted, service, None, ctx.problem(
            400, _("This form has expired"), _("Your answers were kept for an hour only, or the form was sent from "
                                               "another page. Start the form again."),
            _("Start again"), f"/services/{service_id}/apply")
    return posted, service, draft, None


@router.post("/services/{service_id}/apply")
async def answer(service_id: str, ctx: Ctx = Depends(context)) -> Response:
    """The form sent: its errors (entries kept), or "Check your answers"; from the check page,
    ``change=yes`` brings the form back with the answers given."""
    posted, service, draft, stop = await _posted(ctx, service_id)
    if stop is not None:
        return stop
    form = service["form"]
    if posted.get("change") == "yes":
        return _form_page(ctx, service, draft, draft.get("a", {}), {}, [])
    answers = {f["name"]: str(posted.get(f["name"], "")).strip() for f in form["fields"]
               if isinstance(posted.get(f["name"], ""), str)}
    errors = check(form, answers)
    if errors:
        return _form_page(ctx, service, draft, answers, errors, [], 422)
    draft = {**draft, "a": answers}
    fields = _fields(form, ctx.lang, answers, draft.get("p", {}), {})
    return ctx.render("apply_check.html", title=_("Check your answers"), service=service, fields=fields,
                      draft=_seal(ctx, draft), service_dir=i18n.direction(service["lang"]))


@router.post("/services/{service_id}/apply/send")
async def send(service_id: str, ctx: Ctx = Depends(context)) -> Response:
    posted, service, draft, stop = await _posted(ctx, service_id)
    if stop is not None:
        return stop
    answers = draft.get("a")
    if not isinstance(answers, dict) or check(service["form"], answers):
        return _form_page(ctx, service, draft, answers or {}, check(service["form"], answers or {}), [], 422)
    me, stop = await _me(ctx)
    if stop is not None:
        return stop
    token = await portal_token(ctx)
    if token is None:
        return ctx.problem(503, _("The service is not answering"),
                           _("Something went wrong on our side. Try again in a few minutes."))
    kept = {name: source for name, (source, value) in draft.get("p", {}).items() if answers.get(name) == value}
    r = await ctx.api("POST", "/services/v1/applications", token=token, json={
        "service_id": service_id, "data_subject": me["uin"], "answers": answers, "sources": kept,
        "lang": ctx.lang, "request_id": draft["id"]})
    if r.status_code not in (200, 201):
        return ctx.api_refused(r)
    return ctx.redirect(f"/services/{service_id}/apply/sent/{r.json()['reference']}")


@router.get("/services/{service_id}/apply/sent/{reference}")
async def sent(service_id: str, reference: str, ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    if not REFERENCE.match(reference):
        return ctx.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go back "
                                                  "and choose from the list."), _("Go back"), "/services")
    service, stop = await _service(ctx, service_id)
    if stop is not None:
        return stop
    return ctx.render("apply_sent.html", title=_("Application sent"), service=service, reference=reference,
                      service_dir=i18n.direction(service["lang"]))
