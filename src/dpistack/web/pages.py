"""What every portal page shares: templates (GOV.UK Frontend macros through
``govuk-frontend-jinja``), the language of the request, the session cookie, CSRF checks,
security headers, the error pages, and the client of the platform's public HTTP APIs (the
same app, in process, through ``httpx.ASGITransport``: the portal imports no block's
internals and reads no block's tables)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape

from dpistack.core.platform import Platform
from dpistack.web import i18n, session
from dpistack.web.i18n import _

log = logging.getLogger("dpistack.web")

env = Environment(
    loader=ChoiceLoader([PackageLoader("dpistack.web", "templates"),
                         PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})]),
    autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
env.filters["datetime"] = i18n.format_time
env.filters["number"] = i18n.format_number
env.filters["date"] = i18n.format_day
env.filters["amount"] = i18n.format_amount
env.filters["combine_checked"] = lambda item, chosen: {**item, "checked": str(item["value"]) == str(chosen or "")}
env.globals["languages"] = i18n.LANGUAGES

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")  # connect-src: HTMX's requests


@dataclass
class Ctx:
    """One request to the portal: its platform, language, session and API client."""

    request: Request
    platform: Platform
    sealer: session.Sealer
    session: session.Session
    had_session: bool
    choice: i18n.Choice

    @property
    def lang(self) -> str:
        return self.choice.lang

    # -- the platform's APIs, in process ------------------------------------------------------
    async def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(app=self.request.app)
        async with httpx.AsyncClient(transport=transport, base_url=self.platform.settings.public_url) as client:
            return await client.request(method, path, headers=headers, **kw)

    # -- answers ----------------------------------------------------------------------------------
    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        i18n.activate(self.lang)
        flash, self.session.flash = self.session.flash, None
        path = self.request.url.path
        html = env.get_template(template).render(
            lang=self.lang, dir=i18n.direction(self.lang), csrf=self.session.csrf, me=self.session,
            path=path, flash=flash, unsupported=self.choice.asked, language_name=i18n.LANGUAGES[self.lang],
            **context)
        response = HTMLResponse(html, status_code=status)
        return self.finish(response)

    def redirect(self, to: str, flash: str | None = None) -> Response:
        if flash:
            self.session.flash = flash
        return self.finish(RedirectResponse(to, status_code=303))

    def finish(self, response: Response) -> Response:
        secure = self.platform.settings.public_url.startswith("https")
        response.set_cookie(session.COOKIE, self.sealer.seal(self.session.as_dict(), session.COOKIE),
                            max_age=session.MAX_AGE, path="/", httponly=True, samesite="lax", secure=secure)
        if self.choice.remember:
            response.set_cookie(i18n.COOKIE, self.lang, max_age=365 * 86400, path="/", httponly=True,
                                samesite="lax", secure=secure)
        response.headers.update({"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                 "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff",
                                 "Content-Language": self.lang})
        if self.request.headers.get("hx-request") == "true" and self.request.method == "GET":
            # HTMX swapped in the page a form was redirected to: the address bar says which it is
            query = self.request.url.query
            response.headers["HX-Replace-Url"] = self.request.url.path + (f"?{query}" if query else "")
        return response

    def problem(self, status: int, title: str, message: str, action: str | None = None,
                action_href: str | None = None) -> HTMLResponse:
        """A clear page in the person's language saying what went wrong and what to do next."""
        return self.render("problem.html", status, title=title, message=message, action=action,
                           action_href=action_href)

    def csrf_failed(self) -> HTMLResponse:
        log.warning("portal: CSRF check failed on %s %s", self.request.method, self.request.url.path)
        return self.problem(403, _("This form has expired"),
                            _("For your security, the form you sent could not be checked: it may have been open "
                              "too long, or sent from another site. Go back, reload the page and try again."),
                            _("Go back to the start"), "/")

    def session_ended(self, operator: bool = False) -> HTMLResponse:
        self.session.log_out()
        href = "/operator/login" if operator else "/login"
        return self.problem(401, _("Your session has ended"),
                            _("For your security, you are logged out after a few minutes. Log in again to go on."),
                            _("Log in again"), href)

    def api_refused(self, response: httpx.Response, operator: bool = False) -> HTMLResponse:
        """The page for an API's refusal (the API's own words shown as a detail)."""
        if response.status_code == 401:
            return self.session_ended(operator)
        detail = detail_of(response)
        log.info("portal: %s answered %s: %s", response.request.url.path, response.status_code, detail)
        if response.status_code == 404:
            return self.problem(404, _("Not found"), _("There is nothing here for you. Check the address, or go "
                                                       "back and choose from the list."), _("Go back"),
                                "/operator" if operator else "/me")
        if response.status_code == 403:
            return self.problem(403, _("Not allowed"), _("You are not allowed to do this.") + " " + detail,
                                _("Go back"), "/operator" if operator else "/me")
        if response.status_code in (400, 409, 422):  # 400: FSPIOP's 3xxx/4xxx refusals (the payments hub)
            return self.problem(422, _("This was not accepted"), detail, _("Go back"),
                                "/operator" if operator else "/me")
        if response.status_code == 429:
            return self.problem(429, _("Too many attempts"), _("Wait a few minutes, then try again."))
        return self.problem(503, _("The service is not answering"),
                            _("Something went wrong on our side. Try again in a few minutes."))


def detail_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        fspiop = body.get("errorInformation") if isinstance(body.get("errorInformation"), dict) else {}
        return str(body.get("detail") or body.get("error_description") or fspiop.get("errorDescription")
                   or body.get("title") or "")
    return ""


async def context(request: Request) -> Ctx:
    platform: Platform = request.app.state.platform
    sealer = getattr(request.app.state, "web_sealer", None)
    if sealer is None:
        sealer = request.app.state.web_sealer = session.Sealer(platform)
    s, had = session.read(sealer, request.cookies.get(session.COOKIE))
    choice = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                         request.headers.get("accept-language"))
    i18n.activate(choice.lang)
    return Ctx(request, platform, sealer, s, had, choice)


async def form_of(request: Request) -> dict[str, Any]:
    """The posted form (fields as strings, files as bytes); an unreadable body is an empty form."""
    try:
        raw = await request.form()
    except Exception:  # noqa: BLE001 - not a form, or a broken one: nothing was sent
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.multi_items():
        if isinstance(value, str):
            out.setdefault(key, value)
        elif hasattr(value, "read"):
            data = await value.read()
            if data:
                out.setdefault(key, data[:65536])
    return out


async def checked_form(ctx: Ctx, gate) -> tuple[dict[str, Any], Response | None]:
    """A POST's form, or the page that stops it: a bad CSRF token, else what ``gate(ctx)``
    answers (a login page; None lets it go on). Every form of the portal starts here."""
    form = await form_of(ctx.request)
    if not ctx.session.csrf_ok(form.get("csrf_token")):
        return form, ctx.csrf_failed()
    return form, gate(ctx)


def static_path(name: str):
    return resources.files("dpistack.web") / "static" / name
