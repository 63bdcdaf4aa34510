"""The server process: what ``dpistack.asgi`` (the app uvicorn workers import) sets up."""

from __future__ import annotations

import os
import subprocess
import sys

from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.core.server import GC_YOUNG_THRESHOLD
from dpistack.governance.setup import init_instance


def test_a_server_process_freezes_what_it_loaded_and_collects_young_objects_less_often(tmp_path):
    platform = Platform.open(Settings(data_dir=tmp_path))
    init_instance(platform)
    platform.close()
    probe = ("import gc; before = gc.get_freeze_count(); import dpistack.asgi; "
             "print(before, gc.get_freeze_count(), gc.get_threshold()[0])")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "DPI_DATA_DIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    before, frozen, young = map(int, out)
    # the modules, routes and models built at start-up are out of every later collection
    assert before == 0 and frozen > 100_000
    assert young == GC_YOUNG_THRESHOLD > 700
