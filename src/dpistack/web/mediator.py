"""The operator's view of the information mediator (``/operator/exchange``): the services
catalogue (``GET /exchange/v1/services``), the members and their subsystems (X-Road's
``GET /listClients``) and who may call what: each service beside the participants governance
granted ``data:read`` on its data category (``GET /governance/v1/grants``), which is what the
mediator's Cedar check asks for."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dpistack.web.i18n import _
from dpistack.web.operator import _need_login
from dpistack.web.pages import Ctx, context

router = APIRouter(prefix="/operator/exchange", include_in_schema=False)


def may_call(services: list[dict], grants: list[dict]) -> list[dict]:
    """Each service with the participants whose active ``data:read`` grant on
    ``<category>@<provider>`` lets them call it."""
    readers: dict[tuple[str, str], list[str]] = {}
    for g in grants:
        if g.get("status") == "active" and g.get("action") == "data:read":
            readers.setdefault((g["category"], g["owner_id"]), []).append(g["participant_id"])
    return [{**s, "callers": sorted(set(readers.get((s["category"], s["provider"]), [])))} for s in services]


@router.get("")
async def exchange(ctx: Ctx = Depends(context)) -> Response:
    if (stop := _need_login(ctx)) is not None:
        return stop
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
    return ctx.render("exchange.html", title=_("Data exchange"), services=may_call(services.json(), grants.json()),
                      members=[m for m in members.values() if m["subsystems"]], section="exchange")
