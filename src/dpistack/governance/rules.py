"""Governance rules: which approvals each kind of proposal needs before it takes effect.

A requirement is ``role:<authority role>`` (one approval from a participant holding that
role) or ``owner`` (the data owner named in the proposal). All requirements of a proposal
must be met; any required party can veto by rejecting. The rules are data, versioned in the
database, and changed only by an approved ``rules.change`` proposal.
"""

from __future__ import annotations

from typing import Any

AUTHORITY_ROLES = {
    "platform-operator": "Digital agency that operates the platform",
    "identity-authority": "National identity authority",
    "payments-regulator": "Central bank / payments regulator",
    "data-protection-authority": "Data-protection authority",
}

# The governing authorities created by `dpi init`: (participant id, name, role).
DEFAULT_AUTHORITIES = [
    ("digital-agency", "National Digital Agency", "platform-operator"),
    ("identity-authority", "National Identity Authority", "identity-authority"),
    ("central-bank", "Central Bank (payments regulator)", "payments-regulator"),
    ("data-protection-authority", "Data Protection Authority", "data-protection-authority"),
]

# Who vouches for a new institution depends on what it will do.
_BY_ROLE = {
    "fsp": ["role:payments-regulator"],
    "registration": ["role:identity-authority"],
    "relying-party": ["role:identity-authority"],
    "credential-issuer": ["role:identity-authority"],
    "hub": ["role:platform-operator", "role:data-protection-authority"],
}
_PARTICIPANT_RULE = {"by_role": _BY_ROLE, "default": ["role:platform-operator"]}

SENSITIVE_CATEGORIES = ["health", "biometric", "genetic", "criminal-record"]

DEFAULT_RULES: dict[str, Any] = {
    "participant.onboard": _PARTICIPANT_RULE,
    "participant.suspend": _PARTICIPANT_RULE,
    "participant.reactivate": _PARTICIPANT_RULE,
    "participant.key.register": {"default": ["role:platform-operator"]},
    "participant.key.revoke": {"default": ["role:platform-operator"]},
    "access.grant": {
        "by_category": {c: ["role:data-protection-authority", "owner"] for c in SENSITIVE_CATEGORIES},
        "default": ["owner"],
    },
    "access.revoke": {"default": ["role:data-protection-authority"]},
    "policy.change": {"default": ["role:platform-operator", "role:data-protection-authority"]},
    "rules.change": {"default": [f"role:{r}" for r in AUTHORITY_ROLES]},
    # The trust registry (issue #11): trusting another issuer's credentials is the identity
    # authority's call, with the platform operator (who runs the verifiers); withdrawing trust
    # is urgent (a compromised key), so the identity authority alone may do it.
    "issuer.trust": {"default": ["role:identity-authority", "role:platform-operator"]},
    "issuer.distrust": {"default": ["role:identity-authority"]},
}

PROPOSAL_KINDS = tuple(DEFAULT_RULES)


def validate_rules(rules: Any) -> list[str]:
    """Problems with a rules document (empty list: valid)."""
    problems: list[str] = []
    if not isinstance(rules, dict):
        return ["rules must be an object keyed by proposal kind"]
    for kind in PROPOSAL_KINDS:
        if kind not in rules:
            problems.append(f"rules for {kind!r} are missing")
    for kind, rule in rules.items():
        if kind not in PROPOSAL_KINDS:
            problems.append(f"unknown proposal kind {kind!r}")
            continue
        if not isinstance(rule, dict) or not isinstance(rule.get("default"), list) or not rule["default"]:
            problems.append(f"{kind}: needs a non-empty 'default' list of requirements")
            continue
        lists = [rule["default"]]
        for key in ("by_role", "by_category"):
            if key in rule:
                if not isinstance(rule[key], dict):
                    problems.append(f"{kind}: {key} must be an object")
                    continue
                lists.extend(rule[key].values())
        for reqs in lists:
            if not isinstance(reqs, list) or not reqs:
                problems.append(f"{kind}: every requirement list must be non-empty")
                continue
            for req in reqs:
                if req == "owner" or (isinstance(req, str) and req.startswith("role:") and len(req) > 5):
                    continue
                problems.append(f"{kind}: {req!r} is not 'owner' or 'role:<role>'")
    return problems


def requirements(rules: dict[str, Any], kind: str, *, roles: list[str] = (), category: str | None = None,
                 owner: str | None = None) -> list[str]:
    """The approvals a proposal needs, resolved: ``role:…`` and ``participant:<owner>``."""
    # Rules made before a kind existed say nothing of it: its default rule applies until a
    # rules.change covers it.
    rule = rules.get(kind) or DEFAULT_RULES[kind]
    needed: list[str] = []
    for role in roles:
        needed += rule.get("by_role", {}).get(role, [])
    if category is not None:
        needed += rule.get("by_category", {}).get(category, [])
    if not needed:
        needed = list(rule["default"])
    resolved = [f"participant:{owner}" if r == "owner" else r for r in needed]
    return sorted(set(resolved))
