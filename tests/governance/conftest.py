"""Governance tests use the shared `actors` fixture from tests/conftest.py."""
