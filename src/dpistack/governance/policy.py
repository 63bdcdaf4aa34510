"""Access decisions by Cedar policies, evaluated on every protected call.

The policy set in force is the newest ``PolicyVersion``; it changes only when a
``policy.change`` proposal is enacted. Entities are built from the participant registry and
the access rights granted by governance.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

import cedarpy
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.auth import Caller, bearer_token, verify_access_token
from dpistack.core.platform import Platform
from dpistack.governance.errors import AccessDenied, InvalidProposal
from dpistack.governance.models import AccessGrant, Participant, PolicyVersion

DEFAULT_POLICIES = (resources.files("dpistack.governance") / "default_policies.cedar").read_text()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy_version: int
    reasons: list[str]
    errors: list[str]


class _PolicyCache:
    """Parsed policy sets by database and version: parse once per process, not per call. (Per
    database: two instances in one process, as in tests, may each have a version 2.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_version: "weakref.WeakKeyDictionary[Any, dict[int, Any]]" = weakref.WeakKeyDictionary()

    def get(self, session: Session) -> tuple[int, Any]:
        version = session.scalar(select(func.max(PolicyVersion.version)))
        if version is None:
            raise RuntimeError("no policy version in force; run `dpi init`")
        bind = session.get_bind().engine  # per database (a write binds a connection)
        with self._lock:
            parsed = self._by_version.get(bind, {}).get(version)
        if parsed is None:
            text = session.scalar(select(PolicyVersion.text).where(PolicyVersion.version == version))
            parsed = cedarpy.PolicySet.from_str(text)
            with self._lock:
                self._by_version.setdefault(bind, {})[version] = parsed
        return version, parsed


_cache = _PolicyCache()

# Decisions are remembered for DECISION_TTL seconds: policies, participants and grants change
# only when a proposal is enacted, which clears this process's memory at once (other
# processes see the change within the TTL).
DECISION_TTL = 1.0
_decisions: "weakref.WeakKeyDictionary[Any, dict[tuple, tuple[Decision, float]]]" = weakref.WeakKeyDictionary()


def forget_decisions() -> None:
    for remembered in list(_decisions.values()):
        remembered.clear()


def check_policies(text: str) -> None:
    """Refuse a policy set that does not parse or that fails on a sample request."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidProposal("policies must be non-empty Cedar text")
    try:
        cedarpy.PolicySet.from_str(text)
    except ValueError as exc:
        raise InvalidProposal(f"the Cedar policies do not parse: {exc}") from exc


def _participant_entity(p: Participant) -> dict:
    return {
        "uid": {"type": "Participant", "id": p.id},
        "attrs": {"status": p.status, "kind": p.kind, "roles": list(p.roles)},
        "parents": [],
    }


def remembered(engine: Any, participant_id: str, action: str, resource: tuple[str, str]) -> Decision | None:
    """A decision still remembered for this database, or None."""
    hit = _decisions.get(engine, {}).get((participant_id, action, resource, None))
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def authorize(session: Session, participant_id: str, action: str, resource: tuple[str, str] = ("Platform", "dpistack"),
              context: dict | None = None) -> Decision:
    """Evaluate the policy set in force for one request. Unknown participants are denied."""
    memory = _decisions.setdefault(session.get_bind().engine, {})  # per database (a write binds a connection)
    key = (participant_id, action, resource, json.dumps(context, sort_keys=True) if context else None)
    hit = memory.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    decision = _authorize(session, participant_id, action, resource, context)
    if len(memory) > 10_000:
        memory.clear()
    memory[key] = (decision, now + DECISION_TTL)
    return decision


def _authorize(session: Session, participant_id: str, action: str, resource: tuple[str, str],
               context: dict | None) -> Decision:
    version, policies = _cache.get(session)
    principal = session.get(Participant, participant_id)
    if principal is None:
        return Decision(False, version, [], [f"unknown participant {participant_id}"])
    entities = [_participant_entity(principal)]
    rtype, rid = resource
    if rtype == "DataCategory":
        # DataCategory ids are "<category>@<owner>"; readers are the active grantees.
        category, _, owner = rid.partition("@")
        readers = session.scalars(
            select(AccessGrant.participant_id).where(
                AccessGrant.category == category,
                AccessGrant.owner_id == owner,
                AccessGrant.action == action,
                AccessGrant.status == "active",
            )
        ).all()
        entities.append({
            "uid": {"type": "DataCategory", "id": rid},
            "attrs": {"category": category, "owner": owner,
                      "readers": [{"__entity": {"type": "Participant", "id": r}} for r in readers]},
            "parents": [],
        })
    request = {
        "principal": {"type": "Participant", "id": participant_id},
        "action": {"type": "Action", "id": action},
        "resource": {"type": rtype, "id": rid},
        "context": context or {},
    }
    result = cedarpy.is_authorized(request, policies, entities)
    return Decision(result.allowed, version, list(result.diagnostics.reasons), [str(e) for e in result.diagnostics.errors])


def require(action: str, resource: tuple[str, str] = ("Platform", "dpistack")) -> Callable[..., Caller]:
    """FastAPI dependency: an authenticated participant whom policy permits ``action``."""

    def decide(platform: Platform, participant_id: str) -> Decision:
        with platform.db.uow() as session:
            return authorize(session, participant_id, action, resource)

    async def dependency(request: Request) -> Caller:
        # Async, so that a request does not hop to a worker thread just for this: the token
        # check and the decision are usually remembered; only a miss goes to the database.
        # (The platform is taken from the app, not as a sub-dependency: each costs per request.)
        platform: Platform = request.app.state.platform
        caller = verify_access_token(platform, bearer_token(request))
        decision = remembered(platform.db.engine, caller.participant_id, action, resource)
        if decision is None:
            decision = await run_in_threadpool(decide, platform, caller.participant_id)
        if not decision.allowed:
            raise AccessDenied(caller.participant_id, action)
        return caller

    return dependency
