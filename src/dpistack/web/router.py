"""The portal's router: the start page, its static assets, the public transparency-log page
(current checkpoint and a proof checker), the citizen portal and the operator console.
Included last in the app, so it never shadows an API."""

from __future__ import annotations

import base64
import gzip
import hashlib

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from dpistack.core.errors import error_format

from dpistack.transparency import merkle, note
from dpistack.web import citizen, consents, finder, forms, mediator, operator, payments, reviews, tracker, verifier, wallet
from dpistack.web.i18n import _, format_number
from dpistack.web.pages import Ctx, context, static_path

router = APIRouter(include_in_schema=False)
STATIC = {"portal.css": "text/css", "portal.js": "text/javascript", "govuk-frontend.min.js": "text/javascript",
          "GOVUK-FRONTEND-LICENCE.txt": "text/plain", "htmx.min.js": "text/javascript", "HTMX-LICENCE.txt": "text/plain",
          "verify.js": "text/javascript"}
_gzipped: dict[str, bytes] = {}  # the assets compressed once per process (they change only with a release)


@router.get("/")
async def home(ctx: Ctx = Depends(context)) -> Response:
    return ctx.render("home.html", title=_("Public services portal"))


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):  # a page's assets in a fraction of their size
        if name not in _gzipped:
            _gzipped[name] = gzip.compress(static_path(name).read_bytes(), 9, mtime=0)
        return Response(_gzipped[name], media_type=STATIC[name], headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(str(static_path(name)), media_type=STATIC[name], headers=headers)


@router.get("/audit")
async def audit(ctx: Ctx = Depends(context)) -> Response:
    """The log's current checkpoint, and (with ?index=) the check of one entry's inclusion."""
    checkpoint = (await ctx.api("GET", "/transparency/v1/checkpoint")).text
    verifier = (await ctx.api("GET", "/transparency/v1/verifier-key")).text.strip()
    cp = note.parse_checkpoint(checkpoint)
    raw = ctx.request.query_params.get("index")
    result, error, entry = None, None, None
    if raw is not None:
        raw = raw.strip()
        if not (raw.isascii() and raw.isdigit()) or int(raw) >= cp.size:
            error = _("Enter an entry number from 0 to {last}.").format(last=format_number(cp.size - 1))
        else:
            result, entry = await _check(ctx, int(raw), checkpoint, verifier)
    return ctx.render("audit.html", 422 if error else 200, title=_("Transparency log"), checkpoint=checkpoint,
                      size=cp.size, root=base64.b64encode(cp.root).decode(), verifier=verifier, index=raw,
                      error=error, result=result, entry=entry)


async def _check(ctx: Ctx, index: int, checkpoint: str, verifier: str) -> tuple[dict, dict | None]:
    """Verify the checkpoint's signature, then that the entry is in the tree it commits to."""
    try:
        note.verify_note(checkpoint, verifier)
        signed = True
    except Exception:  # noqa: BLE001 - any failure means the signature does not verify
        signed = False
    cp = note.parse_checkpoint(checkpoint)
    entry = (await ctx.api("GET", f"/transparency/v1/entries/{index}")).json()
    proof = (await ctx.api("GET", "/transparency/v1/proof/inclusion",
                           params={"index": index, "tree_size": cp.size})).json()
    leaf = base64.b64decode(entry["leaf"])
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    included = merkle.verify_inclusion(hashlib.sha256(b"\x00" + leaf).digest(), index, cp.size, hashes, cp.root)
    return {"signed": signed, "included": included, "hashes": len(hashes), "size": cp.size}, entry


def install_handlers(app) -> None:
    """Errors the core catches under the portal's paths (an unknown address, a method not
    allowed, a bug) are pages too, not problem+json."""
    from dpistack.web import i18n
    from dpistack.web.pages import CSP, env
    from dpistack.web.session import Session

    def render(status: int, title: str, detail: str, exc: Exception | None) -> Response:
        lang = i18n.current()
        if status in (404, 405):
            heading, message = _("Not found"), _("There is nothing here for you. Check the address, or go back and "
                                                 "choose from the list.")
        elif status == 413:
            heading, message = _("This was not accepted"), _("What you sent is too large.")
        else:
            heading, message = _("The service is not answering"), _("Something went wrong on our side. Try again "
                                                                    "in a few minutes.")
        html = env.get_template("problem.html").render(
            lang=lang, dir=i18n.direction(lang), csrf="", me=Session(), path="/", flash=None, unsupported=None,
            language_name=i18n.LANGUAGES[lang], title=heading, message=message, action=_("Go back to the start"),
            action_href="/")
        return HTMLResponse(html, status_code=404 if status == 405 else status,
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    for prefix in ("/me", "/operator", "/login", "/logout", "/audit", "/verify"):
        error_format(app, prefix, render)


router.include_router(citizen.router)
router.include_router(operator.router)
router.include_router(tracker.router)
router.include_router(consents.router)
router.include_router(wallet.router)
router.include_router(reviews.router)
router.include_router(mediator.router)
router.include_router(forms.router)
router.include_router(finder.router)
router.include_router(verifier.router)
router.include_router(payments.router)
