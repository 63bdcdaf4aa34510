"""ASGI entry point for uvicorn workers: ``dpistack.asgi:app`` (settings from DPI_* variables)."""

from dpistack.app import create_app
from dpistack.core.platform import Platform
from dpistack.core.server import tune_gc_for_serving

platform = Platform.open()
platform.db.checkpoint_in_background()  # the write-ahead log copied outside the writers' lock
app = create_app(platform)
tune_gc_for_serving()
