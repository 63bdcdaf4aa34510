"""The catalogue API (``/services/v1``): institutions publish their public services
(``services:publish``); anyone lists, reads and searches them."""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.governance.policy import require
from dpistack.services import applications, llm, service
from dpistack.services.schemas import SERVICE_ID, ApplicationIn, ServiceIn
from dpistack.transparency import service as tlog

router = APIRouter(prefix="/services/v1", tags=["services"])
PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM}
ServiceId = Path(min_length=2, max_length=63, pattern=SERVICE_ID)
LangQ = Query("en", description="language of the texts (a service without it is shown in English)")
Lang = Literal["en", "fr", "es", "pt", "ar"]


@router.put("/services/{service_id}", responses=ERRORS, summary="Publish or update a public service (its institution)")
def publish(body: ServiceIn, response: Response, service_id: str = ServiceId,
            caller: Caller = Depends(require("services:publish")), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        result, created = service.publish(session, caller.participant_id, service_id, body)
    response.status_code = 201 if created else 200
    return result


@router.get("/services", responses=ERRORS, summary="The catalogue, in one language")
def list_services(lang: Lang = LangQ, category: str | None = Query(None, max_length=32),
                  publisher: str | None = Query(None, max_length=64),
                  platform: Platform = Depends(get_platform)) -> list[dict]:
    with platform.db.uow() as session:
        return service.list_services(session, lang, category, publisher)


@router.get("/services/{service_id}", responses=ERRORS, summary="One public service, in one language")
def get_service(service_id: str = ServiceId, lang: Lang = LangQ, platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        return service.get(session, service_id, lang)


@router.get("/search", responses=ERRORS, summary="Find the services that answer a question, in any of the five languages")
async def search(q: str = Query(min_length=1, max_length=300, description="the question, in the person's words"),
                 lang: Lang = Query("en", description="the page's language: used when the question's cannot be told"),
                 limit: int = Query(5, ge=1, le=20),
                 redact: str | None = Header(None, alias="X-Redact-Terms", max_length=500,
                                             description="words of the question that are personal data whatever "
                                             "their form (the logged-in person's names): percent-encoded, "
                                             "comma-separated"),
                 platform: Platform = Depends(get_platform)) -> dict:
    def run() -> dict:
        with platform.db.uow() as session:
            return service.search(session, q, lang, limit)

    result = await run_in_threadpool(run)
    model = llm.model_of(platform.settings)
    result["assist"] = None
    if model is None or not result["hits"]:
        return result

    async def log_disclosure(categories: list[str]) -> None:
        def write() -> None:
            with platform.db.uow(write=True) as session:
                tlog.append(session, llm.disclosure_entry(model, categories))
        await run_in_threadpool(write)

    names = [n.strip() for n in unquote(redact or "").split(",") if n.strip()]
    assisted = await llm.assist(model, q, result["lang"], result["hits"], names,
                                platform.settings.llm_personal_data, log_disclosure)
    by_id = {h["id"]: h for h in result["hits"]}
    result["hits"] = [by_id[sid] for sid in assisted.pop("order")]
    result["assist"] = assisted
    return result


@router.post("/applications", status_code=201, responses={**ERRORS, 200: {"description": "sent before"}},
             summary="Send an application through a service's online form (a front office, for the person)")
def apply(body: ApplicationIn, response: Response, caller: Caller = Depends(require("services:apply")),
          platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        result, created = applications.submit(session, platform, caller.participant_id, body)
    if not created:
        response.status_code = 200
    return result


@router.get("/applications", responses=ERRORS, summary="The applications my institution received (no answers)")
def received(service_id: str | None = Query(None, pattern=SERVICE_ID), limit: int = Query(100, ge=1, le=1000),
             caller: Caller = Depends(require("services:publish")), platform: Platform = Depends(get_platform)
             ) -> list[dict]:
    with platform.db.uow() as session:
        return applications.received(session, caller.participant_id, service_id, limit)


@router.get("/applications/{reference}", responses=ERRORS,
            summary="One application my institution received, with its answers (the reading is logged)")
def read_application(reference: str = Path(pattern=r"^[A-Z0-9]{1,3}-[A-Z0-9]{8}$"),
                     caller: Caller = Depends(require("services:publish")),
                     platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        return applications.open_application(session, platform, caller.participant_id, reference)
