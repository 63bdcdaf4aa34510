"""Public platform endpoints: health, metrics, the platform's JWKS."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dpistack import __version__
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform

router = APIRouter(tags=["platform"])


@router.get("/healthz", summary="Liveness and database reachability")
def healthz(platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__, "database": platform.db.engine.dialect.name}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json", summary="Platform signing keys (active and retired)")
def jwks(platform: Platform = Depends(get_platform)) -> dict:
    return platform.keys.jwks()
