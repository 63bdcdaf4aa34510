"""The switch against Mojaloop's own FSPIOP v1.1 OpenAPI (`../shared/specs/mojaloop`): every
operation of the specification, with inputs Hypothesis generates from it (schemathesis), sent
by an authenticated FSP with valid FSPIOP headers so that the inputs reach the handlers. No input
may produce a 5xx; every answer must be one the specification lists for that operation, and
every error must be the specification's ``ErrorInformationResponse``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpistack.payments import fspiop

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "mojaloop" / "fspiop-v1.1-openapi3.yaml"
EXAMPLES_PER_OPERATION = 6  # a fixed number: the run does the same work however busy the machine is
ERROR_CODE = re.compile(r"^[1-9]\d{3}$")
PARTY_TYPES = ["MSISDN", "EMAIL", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID", "IBAN", "ALIAS"]
IDS = st.uuids().map(str)
PATH_VALUES = {"Type": st.sampled_from(PARTY_TYPES), "ID": st.from_regex(r"[0-9]{6,15}", fullmatch=True),
               "SubId": st.from_regex(r"[A-Z_]{3,12}", fullmatch=True)}


@pytest.fixture
def platform(sqlite_platform):
    return sqlite_platform  # one storage backend is enough here: the subject is the HTTP contract


def test_every_fspiop_operation_answers_within_the_specification(scheme):
    if not SPEC.exists():
        pytest.fail(f"the FSPIOP specification is missing at {SPEC}")
    alpha, beta = scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")
    alpha.headers  # noqa: B018 - a token now, not inside the time budget
    schema = schemathesis.openapi.from_path(str(SPEC))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 46  # the whole v1.1 API: lookups, parties, quotes, transfers, bulk, …
    outcomes: dict[str, set[int]] = {}
    problems: list[str] = []

    for operation in operations:
        documented = {int(code) for code in operation.definition.raw["responses"] if code.isdigit()}
        resource = operation.path.strip("/").split("/")[0]

        @given(case=operation.as_strategy(), data=st.data())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case, data):
            # The specification types its path parameters as bare strings: draw them as FSPs send them.
            params = dict(case.path_parameters or {})
            for name in params:
                params[name] = data.draw(PATH_VALUES.get(name, IDS) if resource in ("participants", "parties")
                                         else IDS if name == "ID" else PATH_VALUES.get(name, IDS))
            path = operation.path.format(**params)
            headers = fspiop.request_headers(resource, "alpha-bank", "beta-wallet", operation.method.upper(), path)
            body = None
            if isinstance(case.body, (dict, list)):
                body = json.dumps(case.body).encode()
            r = alpha.http.request(operation.method.upper(), f"/fspiop{path}", params=case.query or None,
                                   content=body, headers={**alpha.headers, **headers})
            outcomes.setdefault(operation.label, set()).add(r.status_code)
            if r.status_code >= 500 and r.status_code not in documented:
                problems.append(f"{operation.label}: {r.status_code} {r.text[:200]}")
            elif r.status_code not in documented:
                problems.append(f"{operation.label}: {r.status_code} is not in the specification {sorted(documented)}")
            elif r.status_code >= 400:
                info = r.json().get("errorInformation", {})
                if not ERROR_CODE.match(str(info.get("errorCode", ""))) or not info.get("errorDescription"):
                    problems.append(f"{operation.label}: {r.status_code} without errorInformation: {r.text[:200]}")

        fuzz()
    assert not problems, "\n".join(sorted(set(problems))[:20])
    assert len(outcomes) == len(operations)  # every operation was exercised
    # the inputs reached the handlers: some were accepted, not only refused at the door
    assert sum(202 in codes or 200 in codes for codes in outcomes.values()) >= 20, outcomes
    assert not any(codes <= {401, 403} for codes in outcomes.values()), outcomes
    del beta
