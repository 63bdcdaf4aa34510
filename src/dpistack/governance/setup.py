"""`dpi init`: the genesis of an instance — its governing authorities, rules and policies."""

from __future__ import annotations

import hashlib

import rfc8785
from sqlalchemy.exc import IntegrityError

from dpistack.core.platform import Platform
from dpistack.governance import credentials
from dpistack.governance.models import InstanceInfo, Participant, ParticipantKey, PolicyVersion, RulesVersion
from dpistack.governance.policy import DEFAULT_POLICIES
from dpistack.governance.rules import DEFAULT_AUTHORITIES, DEFAULT_RULES
from dpistack.transparency import service as tlog


def is_initialised(platform: Platform) -> bool:
    with platform.db.uow() as session:
        return session.get(InstanceInfo, "initialised_at") is not None


def init_instance(platform: Platform, authorities=DEFAULT_AUTHORITIES) -> list[str]:
    """Create the authorities (with development keys), rules v1 and policies v1, once.

    Returns the ids of the authorities created, or [] if the instance was already initialised.
    The genesis is the first transparency-log entry, so auditors see who governs from the start.
    """
    if is_initialised(platform):
        return []
    keys = {pid: credentials.new_key() for pid, _, _ in authorities}
    try:
        with platform.db.uow(write=True) as session:
            if session.get(InstanceInfo, "initialised_at") is not None:
                return []
            for pid, name, role in authorities:
                session.add(Participant(id=pid, name=name, kind="authority", roles=[role], status="active", endpoints={}))
            session.flush()
            for pid, _, _ in authorities:
                jwk = credentials.public_jwk(keys[pid])
                session.add(ParticipantKey(kid=jwk["kid"], participant_id=pid, jwk=jwk, status="active"))
            session.add(PolicyVersion(version=1, text=DEFAULT_POLICIES))
            session.add(RulesVersion(version=1, rules=DEFAULT_RULES))
            session.add(InstanceInfo(key="initialised_at", value=tlog.governance_entry("genesis")["time"]))
            session.flush()
            tlog.append(
                session,
                tlog.governance_entry(
                    "genesis",
                    authorities=[
                        {"id": pid, "role": role, "kid": credentials.public_jwk(keys[pid])["kid"]}
                        for pid, _, role in authorities
                    ],
                    rules_sha256=hashlib.sha256(rfc8785.dumps(DEFAULT_RULES)).hexdigest(),
                    policies_sha256=hashlib.sha256(DEFAULT_POLICIES.encode()).hexdigest(),
                ),
            )
            # Written before the commit: an authority must never exist without its key.
            for pid, key in keys.items():
                credentials.save_private_jwk(platform.settings.data_dir, pid, key)
    except IntegrityError:
        return []  # another process initialised it at the same moment
    return [pid for pid, _, _ in authorities]
