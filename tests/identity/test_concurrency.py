"""Two enrolments of the same person at the same moment: exactly one UIN is issued.

Runs on both backends: SQLite writers take turns (BEGIN IMMEDIATE); on PostgreSQL the
enrolments share a blocking key and so an advisory lock.
"""

from __future__ import annotations

import threading

from dpistack.identity import service
from dpistack.identity.schemas import EnrolmentIn

PERSON = {
    "names": [{"language": "en", "given": "Juma", "family": "Mwinyi"}],
    "birth_date": "1982-07-03", "sex": "male", "birth_place": "Zanzibar", "address": "Stone Town",
}


def test_simultaneous_enrolments_of_one_person_issue_one_uin(platform):
    ctx = service.IdentityContext.of(platform)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def enrol(office: str) -> None:
        try:
            barrier.wait(timeout=10)
            with platform.db.uow(write=True) as session:
                results.append(service.enrol(session, ctx, office, EnrolmentIn.model_validate(PERSON)).status)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enrol, args=(f"office-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == ["duplicate", "issued"]
