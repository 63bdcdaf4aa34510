"""The machine's Node.js with the independent implementations of tests/credentials/package.json."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def node_with(package: str) -> str:
    """The path of ``node`` when ``node_modules/<package>`` is installed; otherwise the test fails
    under ``CI=true`` (the interop tests must run there) and is skipped elsewhere."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (HERE / "node_modules" / package).is_dir():
        problem = "tests/credentials/node_modules is missing: run `cd tests/credentials && npm ci`"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem + " (CI=true: the interop tests must run)")
        pytest.skip(problem)
    return node
