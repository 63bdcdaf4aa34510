"""The exchange API: members register subsystems, providers publish services (the catalogue),
``GET /listClients`` (X-Road metadata), a member's own message-log records, and pub/sub."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.exchange import catalogue, messagelog
from dpistack.exchange.schemas import ServiceIn, SubsystemIn
from dpistack.governance.policy import require
from dpistack.governance.models import Participant
from dpistack.exchange.identifiers import member_class

router = APIRouter(tags=["exchange"])
PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}
CODE = r"^[A-Za-z0-9._:-]{1,64}$"


@router.post("/exchange/v1/subsystems", status_code=201, responses=ERRORS, summary="Register one of my subsystems")
def add_subsystem(body: SubsystemIn, caller: Caller = Depends(require("exchange:member")),
                  platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        catalogue.register_subsystem(session, caller.participant_id, body.code)
        kind = session.get(Participant, caller.participant_id).kind
    catalogue.forget()
    return {"id": f"{catalogue.instance_of(platform)}/{member_class(kind)}/{caller.participant_id}/{body.code}"}


@router.put("/exchange/v1/services", responses=ERRORS, summary="Publish (or update) a service of my subsystem")
def publish(body: ServiceIn, caller: Caller = Depends(require("exchange:publish")),
            platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        row = catalogue.publish(session, caller.participant_id, body.subsystem, body.service_code, body.backend_url,
                                body.openapi, body.category, body.personal_data)
        kind = session.get(Participant, caller.participant_id).kind
        return catalogue.service_view(platform, row, member_class(kind))


@router.delete("/exchange/v1/services/{subsystem}/{service_code}", status_code=204, responses=ERRORS,
               summary="Withdraw a service of mine")
def withdraw(subsystem: str = Path(pattern=CODE), service_code: str = Path(pattern=CODE), caller: Caller = Depends(require("exchange:publish")),
             platform: Platform = Depends(get_platform)) -> None:
    with platform.db.uow(write=True) as session:
        catalogue.withdraw(session, caller.participant_id, subsystem, service_code)


@router.get("/exchange/v1/services", responses=ERRORS, summary="The service catalogue")
def list_services(provider: str | None = Query(None, max_length=64),
                  _caller: Caller = Depends(require("governance:read")),
                  platform: Platform = Depends(get_platform)) -> list[dict]:
    with platform.db.uow() as session:
        kinds = {p.id: p.kind for p in session.query(Participant)}
        return [catalogue.service_view(platform, row, member_class(kinds.get(row.provider, "")))
                for row in catalogue.services_of(session, provider)]


@router.get("/listClients", responses=ERRORS, summary="X-Road metadata: the members and subsystems of this instance")
def list_clients(_caller: Caller = Depends(require("governance:read")),
                 platform: Platform = Depends(get_platform)) -> dict:
    return catalogue.list_clients(platform)


@router.get("/exchange/v1/message-log", responses=ERRORS, summary="Message-log records I am party to")
def my_records(limit: int = Query(100, ge=1, le=1000), caller: Caller = Depends(require("governance:read")),
               platform: Platform = Depends(get_platform)) -> list[dict]:
    with platform.db.uow() as session:
        return messagelog.records_of(session, caller.participant_id, limit)
