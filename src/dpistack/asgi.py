"""ASGI entry point for uvicorn workers: ``dpistack.asgi:app`` (settings from DPI_* variables)."""

from dpistack.app import create_app
from dpistack.core.platform import Platform
from dpistack.core.server import tune_gc_for_serving

app = create_app(Platform.open())
tune_gc_for_serving()
