"""A schemathesis run against /openapi.json: no input may produce a 5xx.

Requests carry a valid access token of the platform operator, so the fuzzing reaches past
authentication into the handlers. (Schemathesis's own pytest plugin does not load under
pytest 9, so each operation's Hypothesis strategy is driven directly.)
"""

from __future__ import annotations


import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from dpistack.app import create_app
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance.oauth import mint_access_token
from dpistack.governance.setup import init_instance

# A fixed number per operation (no time budget): the run does the same work however busy the machine is.
EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    platform = Platform.open(Settings(data_dir=tmp_path_factory.mktemp("fuzz"), public_url="http://testserver"))
    init_instance(platform)
    token = mint_access_token(platform, "digital-agency", {"governance", "platform-operator"})["access_token"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    yield schema, token
    platform.close()


def test_no_input_produces_a_server_error(target):
    schema, token = target
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    called: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            headers = dict(case.headers or {})
            headers.setdefault("Authorization", f"Bearer {token}")
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        fuzz()
        called.append(operation.label)
    assert len(called) == len(operations)
