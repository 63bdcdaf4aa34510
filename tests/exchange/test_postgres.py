"""The same exchange of personal data on PostgreSQL: the message-log rows, their batch signature
and the transparency entry (written with COPY, its subject indexed) commit together."""

from __future__ import annotations

import json

import pytest

from dpistack.consent import service as consent_service
from dpistack.exchange import messagelog
from dpistack.identity.service import IdentityContext
from dpistack.transparency import service as tlog

from .conftest import PERSONAL, ask_consent, call, grant


@pytest.mark.postgres
@pytest.mark.parametrize("platform", ["postgres"], indirect=True)
def test_personal_exchange_on_postgres(country, actors, person, client, platform):
    registry, ministry = country
    grant(actors, registry)
    consent_id = ask_consent(ministry)
    assert client.post(f"/consent/v1/consents/{consent_id}/approve", headers=person["consent"]).status_code == 200
    for _ in range(3):
        r = call(ministry, PERSONAL + "/me", headers={"X-Consent-Id": consent_id})
        assert r.status_code == 200, r.text
    pseudonym = IdentityContext.of(platform).pseudonym(person["uin"])
    mine = [json.loads(b) for _, b in tlog.entries_about(platform, pseudonym)]
    assert sum(e["accessor"] == "ministry-of-health" for e in mine) == 3
    assert messagelog.check(platform) == [] and consent_service.check(platform) == [] and tlog.check(platform) == []
    usage = client.get("/resident/v1/data-usage", headers=person["session"]).json()
    assert all(e["verified"] for e in usage["entries"]) and len(usage["entries"]) == len(mine)
