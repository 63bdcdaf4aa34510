"""What a participant or authority does on its own side: hold a private key, sign client
assertions (RFC 7523) and approvals (JWS).

In production each institution keeps its private key on its own premises. For development
and the demo, ``dpi init`` and the demo keep them under ``<data-dir>/credentials`` (0600).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from joserfc import jws, jwt
from joserfc.jwk import ECKey, OKPKey

APPROVAL_TYPE = "dpi-approval+jwt"


def new_key() -> ECKey:
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    return key


def public_jwk(key: ECKey | OKPKey) -> dict:
    jwk = key.as_dict(private=False)
    jwk.setdefault("kid", key.thumbprint())
    jwk["alg"] = "ES256" if isinstance(key, ECKey) else "EdDSA"
    jwk["use"] = "sig"
    return jwk


def _alg(key: ECKey | OKPKey) -> str:
    return "ES256" if isinstance(key, ECKey) else "EdDSA"


def save_private_jwk(data_dir: Path, participant_id: str, key: ECKey | OKPKey) -> Path:
    folder = Path(data_dir) / "credentials"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / f"{participant_id}.jwk"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(key.as_dict(private=True), f)
    return path


def load_private_jwk(data_dir: Path, participant_id: str) -> ECKey | OKPKey | None:
    path = Path(data_dir) / "credentials" / f"{participant_id}.jwk"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return ECKey.import_key(data) if data.get("kty") == "EC" else OKPKey.import_key(data)


def client_assertion(participant_id: str, key: ECKey | OKPKey, audience: str, lifetime: int = 60) -> str:
    """A private_key_jwt client assertion (RFC 7523 §2.2, OIDC Core §9)."""
    now = int(time.time())
    claims = {
        "iss": participant_id,
        "sub": participant_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({"alg": _alg(key), "kid": key.kid}, claims, key)


def sign_approval(approver_id: str, key: ECKey | OKPKey, proposal_id: str, digest: str, decision: str = "approve") -> str:
    """An approval (or rejection) of exactly one proposal content, as a compact JWS."""
    payload = {
        "iss": approver_id,
        "proposal": proposal_id,
        "digest": digest,
        "decision": decision,
        "iat": int(time.time()),
    }
    header = {"alg": _alg(key), "kid": key.kid, "typ": APPROVAL_TYPE}
    return jws.serialize_compact(header, json.dumps(payload).encode(), key)
