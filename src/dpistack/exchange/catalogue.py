"""The service catalogue: members' subsystems and the REST services providers publish, with
their OpenAPI descriptions, and the metadata services of X-Road's service metadata protocol
for REST (``listClients``, ``listMethods``, ``allowedMethods``, ``getOpenAPI``)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.errors import Conflict, NotFound, Problem
from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.exchange.identifiers import ClientId, member_class
from dpistack.exchange.models import Service, Subsystem
from dpistack.governance import service as governance
from dpistack.governance.models import Participant

CACHE_SECONDS = 1.0  # like Cedar decisions: a withdrawn service is refused within a second everywhere
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class InvalidService(Problem):
    status = 422
    title = "Invalid service"


@dataclass(frozen=True)
class Published:
    """What the mediator needs of a service, kept per process for ``CACHE_SECONDS``."""

    key: str
    provider: str
    provider_class: str
    subsystem: str
    code: str
    backend_url: str
    category: str
    personal_data: bool


def instance_of(platform: Platform) -> str:
    return platform.extras.get("xroad_instance") or platform.settings.xroad_instance


def register_subsystem(session: Session, member: str, code: str) -> Subsystem:
    if session.get(Subsystem, (member, code)) is not None:
        raise Conflict(f"{member} already has a subsystem {code}.")
    row = Subsystem(member_id=member, code=code, created_at=utcnow())
    session.add(row)
    return row


def subsystems_of(session: Session, member: str) -> list[str]:
    return list(session.scalars(select(Subsystem.code).where(Subsystem.member_id == member).order_by(Subsystem.code)))


def _check_backend(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidService("backend_url must be an http:// or https:// URL without credentials.")


def publish(session: Session, provider: str, subsystem: str, code: str, backend_url: str, openapi: dict | None,
            category: str, personal_data: bool) -> Service:
    """Publish (or update) a service of one of the provider's subsystems. Nobody may call it
    until governance grants them ``data:read`` on ``<category>@<provider>``."""
    if code in ("api", "pub", "pull", "listMethods", "allowedMethods", "getOpenAPI"):
        raise InvalidService(f"{code} is reserved (metadata services and the rooms' PubSub API).")
    if session.get(Subsystem, (provider, subsystem)) is None:
        raise InvalidService(f"{provider} has no subsystem {subsystem}; register it first.")
    _check_backend(backend_url)
    if openapi is not None and not isinstance(openapi.get("paths", {}), dict):
        raise InvalidService("openapi must be an OpenAPI 3 description (an object with paths).")
    key = f"{provider}/{subsystem}/{code}"
    row = session.get(Service, key)
    if row is None:
        row = Service(id=key, provider=provider, subsystem=subsystem, code=code, created_at=utcnow())
        session.add(row)
    row.backend_url, row.openapi, row.category, row.personal_data, row.status = \
        backend_url, openapi, category, personal_data, "active"
    forget()
    return row


def withdraw(session: Session, provider: str, subsystem: str, code: str) -> None:
    row = session.get(Service, f"{provider}/{subsystem}/{code}")
    if row is None or row.provider != provider:
        raise NotFound(f"{provider} publishes no service {subsystem}/{code}.")
    row.status = "withdrawn"
    forget()


def services_of(session: Session, provider: str | None = None, subsystem: str | None = None) -> list[Service]:
    query = select(Service).where(Service.status == "active").order_by(Service.id)
    if provider:
        query = query.where(Service.provider == provider)
    if subsystem:
        query = query.where(Service.subsystem == subsystem)
    return list(session.scalars(query))


def service_view(platform: Platform, row: Service, provider_class: str) -> dict:
    return {"id": f"{instance_of(platform)}/{provider_class}/{row.id}", "provider": row.provider,
            "subsystem": row.subsystem, "service_code": row.code, "category": row.category,
            "personal_data": row.personal_data, "has_openapi": row.openapi is not None}


# -- the mediator's per-process view --------------------------------------------------------
_lock = threading.Lock()
_cache: dict[tuple[int, str], tuple[Published | None, float]] = {}
_members: dict[tuple[int, str], tuple[tuple[str, str] | None, float]] = {}
_subsystems: dict[tuple[int, str, str], tuple[bool, float]] = {}


def forget() -> None:
    with _lock:
        _cache.clear()
        _members.clear()
        _subsystems.clear()


def member(platform: Platform, participant_id: str) -> tuple[str, str] | None:
    """(member class, status) of a participant, or None (kept for CACHE_SECONDS)."""
    key, now = (id(platform), participant_id), time.monotonic()
    hit = _members.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    with platform.db.uow() as session:
        p = session.get(Participant, participant_id)
        value = (member_class(p.kind), p.status) if p is not None else None
    _members[key] = (value, now + CACHE_SECONDS)
    return value


def has_subsystem(platform: Platform, member_id: str, code: str) -> bool:
    key, now = (id(platform), member_id, code), time.monotonic()
    hit = _subsystems.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    with platform.db.uow() as session:
        value = session.get(Subsystem, (member_id, code)) is not None
    _subsystems[key] = (value, now + CACHE_SECONDS)
    return value


def published(platform: Platform, key: str) -> Published | None:
    cache_key, now = (id(platform), key), time.monotonic()
    hit = _cache.get(cache_key)
    if hit is not None and hit[1] > now:
        return hit[0]
    with platform.db.uow() as session:
        row = session.get(Service, key)
        value = None
        if row is not None and row.status == "active":
            p = session.get(Participant, row.provider)
            if p is not None:
                value = Published(row.id, row.provider, member_class(p.kind), row.subsystem, row.code,
                                  row.backend_url.rstrip("/"), row.category, row.personal_data)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[cache_key] = (value, now + CACHE_SECONDS)
    return value


# -- metadata services ------------------------------------------------------------------------
def list_clients(platform: Platform) -> dict:
    """``listClients``: the instance's members and their subsystems (PR-META JSON form)."""
    instance = instance_of(platform)
    members = []
    with platform.db.uow() as session:
        for p in governance.list_participants(session):
            if p.status != "active":
                continue
            cls = member_class(p.kind)
            members.append({"id": ClientId(instance, cls, p.id).as_json(), "name": p.name})
            for code in subsystems_of(session, p.id):
                members.append({"id": ClientId(instance, cls, p.id, code).as_json(), "name": p.name})
    return {"member": members}


def endpoints(openapi: dict | None) -> list[dict]:
    """An OpenAPI description's operations as X-Road endpoints (path parameters as ``*``)."""
    found = []
    for path, item in sorted(((openapi or {}).get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            if method in item:
                found.append({"method": method.upper(), "path": re.sub(r"\{[^}/]*\}", "*", path)})
    return found or [{"method": "*", "path": "**"}]


def methods(platform: Platform, provider: str, provider_class: str, subsystem: str,
            allowed: Any = None) -> dict:
    """``listMethods`` (``allowed`` None) or ``allowedMethods`` (``allowed(category)`` says
    whether the caller may call a service of that category)."""
    instance = instance_of(platform)
    with platform.db.uow() as session:
        rows = services_of(session, provider, subsystem)
    services = []
    for row in rows:
        if allowed is not None and not allowed(row.category):
            continue
        services.append({"member_class": provider_class, "member_code": provider, "object_type": "SERVICE",
                         "service_code": row.code, "service_type": "OPENAPI" if row.openapi else "REST",
                         "subsystem_code": subsystem, "xroad_instance": instance,
                         "endpoint_list": endpoints(row.openapi)})
    return {"service": services}


def openapi_of(platform: Platform, provider: str, subsystem: str, code: str) -> dict | None:
    with platform.db.uow() as session:
        row = session.get(Service, f"{provider}/{subsystem}/{code}")
        return row.openapi if row is not None and row.status == "active" else None
