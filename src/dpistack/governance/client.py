"""A participant's side of the governance API over HTTP: get a token, propose, approve.

Used by the demo and the tests; a real participant would do the same with any HTTP client.
"""

from __future__ import annotations

import time

import httpx
from joserfc.jwk import ECKey, OKPKey

from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER


class ParticipantClient:
    def __init__(self, http: httpx.Client, participant_id: str, key: ECKey | OKPKey, token_url: str):
        self.http, self.id, self.key, self.token_url = http, participant_id, key, token_url
        self._token: str | None = None
        self._expires = 0.0

    def request_token(self, scope: str | None = None) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": credentials.client_assertion(self.id, self.key, self.token_url),
        }
        if scope:
            form["scope"] = scope
        return self.http.post("/oauth/token", data=form)

    def token(self) -> str:
        if self._token is None or time.time() > self._expires - 10:
            response = self.request_token()
            response.raise_for_status()
            body = response.json()
            self._token, self._expires = body["access_token"], time.time() + body["expires_in"]
        return self._token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(path, headers=self.headers, **kw)

    def put(self, path: str, **kw) -> httpx.Response:
        return self.http.put(path, headers=self.headers, **kw)

    def propose(self, kind: str, payload: dict) -> httpx.Response:
        return self.post("/governance/v1/proposals", json={"kind": kind, "payload": payload})

    def decide(self, proposal: dict, decision: str = "approve") -> httpx.Response:
        """Sign an approval (or rejection) of exactly this proposal's content and send it."""
        signed = credentials.sign_approval(self.id, self.key, proposal["id"], proposal["digest"], decision)
        return self.post(f"/governance/v1/proposals/{proposal['id']}/approvals", json={"jws": signed})


def onboarding_payload(participant_id: str, name: str, kind: str, roles: list[str], key: ECKey | OKPKey,
                       endpoints: dict[str, str] | None = None) -> dict:
    return {
        "id": participant_id,
        "name": name,
        "kind": kind,
        "roles": roles,
        "jwks": {"keys": [credentials.public_jwk(key)]},
        "endpoints": endpoints or {},
    }
