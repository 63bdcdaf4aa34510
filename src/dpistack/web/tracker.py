"""The citizen's data tracker (``/me/data-usage``): every access to the person's data, from
identity's ``GET /resident/v1/data-usage``, each entry's inclusion proof checked here against
the signed checkpoint that came with them (the same note and RFC 9162 checks as ``/audit``),
and the raw answer to download for ``dpi transparency verify --usage FILE``."""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.transparency import merkle, note
from dpistack.web.citizen import _need_login
from dpistack.web.i18n import _
from dpistack.web.pages import Ctx, context

router = APIRouter(include_in_schema=False)
PAGE = 50  # accesses a page shows (the newest first; "older" pages by log index)
SHOWN = ("accessor", "purpose", "consent_id", "legal_basis")  # what the page shows, checked against the logged bytes


def check_answer(answer: dict, verifier: str) -> tuple[bool, list[dict]]:
    """(the checkpoint's signature is the log's, the entries each with ``proof_ok``): an entry
    is checked when its bytes are in the checkpoint's tree and say what the answer shows."""
    try:
        note.verify_note(answer["checkpoint"], verifier)
        cp = note.parse_checkpoint(answer["checkpoint"])
        signed = True
    except Exception:  # noqa: BLE001 - whatever fails, the checkpoint is not the log's
        return False, [{**e, "proof_ok": False} for e in answer.get("entries") or []]
    checked = []
    for e in answer.get("entries") or []:
        try:
            blob = base64.b64decode(e["entry"], validate=True)
            proof = [base64.b64decode(h, validate=True) for h in e["inclusion_proof"]]
            logged = json.loads(blob)
            ok = merkle.verify_inclusion(merkle.hash_leaf(blob), int(e["index"]), cp.size, proof, cp.root) \
                and all(logged.get(k) == e.get(k) for k in SHOWN) \
                and logged.get("categories") == e.get("categories")
        except (KeyError, TypeError, ValueError, binascii.Error):
            ok = False
        checked.append({**e, "proof_ok": ok})
    return signed, checked


async def _usage(ctx: Ctx, limit: int = 500, before: int | None = None):
    params = {"limit": limit} if before is None else {"limit": limit, "before": before}
    return await ctx.api("GET", "/resident/v1/data-usage", token=ctx.session.token, params=params)


@router.get("/me/data-usage")
async def data_usage(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
    raw = ctx.request.query_params.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None  # else: the newest
    r = await _usage(ctx, PAGE + 1, before)  # one more than shown: is there an older page?
    if r.status_code != 200:
        return ctx.api_refused(r)
    verifier = (await ctx.api("GET", "/transparency/v1/verifier-key")).text.strip()
    answer = r.json()
    older = len(answer.get("entries") or []) > PAGE
    answer["entries"] = (answer.get("entries") or [])[:PAGE]
    signed, entries = check_answer(answer, verifier)
    return ctx.render("data_usage.html", title=_("Who accessed my data"), entries=entries, signed=signed,
                      all_ok=signed and all(e["proof_ok"] for e in entries), tree_size=answer.get("tree_size", 0),
                      older=entries[-1]["index"] if older and entries else None, paged=before is not None,
                      section="usage")


@router.get("/me/data-usage.json")
async def data_usage_file(ctx: Ctx = Depends(context)) -> Response:
    """The answer exactly as the residents' API gave it, to keep and check independently."""
    if (stop := _need_login(ctx)) is not None:
        return stop
    r = await _usage(ctx)
    if r.status_code != 200:
        return ctx.api_refused(r)
    response = Response(r.content, media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="my-data-usage.json"'})
    return ctx.finish(response)
