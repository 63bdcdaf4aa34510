"""Settings: DPI_PUBLIC_URL must be a URL that can be the issuer, whichever entry point reads it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dpistack.core.config import Settings

ISSUERS = ["http://127.0.0.1:8000", "https://dpi.example.org", "https://gateway.example.org/dpi/",
           "http://[::1]:8731"]
NOT_ABSOLUTE_HTTP = ["localhost:8000", "dpi.example.org", "/oauth", "ftp://dpi.example.org", "http://:8000",
                     "https://dpi.example.org:99999", "https://dpi example.org", ""]
WITH_QUERY_OR_FRAGMENT = ["https://dpi.example.org/?tenant=1", "https://dpi.example.org?", "https://dpi.example.org/#top"]


@pytest.mark.parametrize("url", ISSUERS)
def test_absolute_http_urls_are_accepted(url, monkeypatch):
    monkeypatch.setenv("DPI_PUBLIC_URL", url)
    assert Settings().public_url == url


@pytest.mark.parametrize("url", NOT_ABSOLUTE_HTTP)
def test_a_public_url_that_is_not_an_absolute_http_url_is_refused(url, monkeypatch):
    monkeypatch.setenv("DPI_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="must be an absolute http:// or https:// URL"):
        Settings()


@pytest.mark.parametrize("url", WITH_QUERY_OR_FRAGMENT)
def test_a_public_url_with_a_query_or_fragment_is_refused(url, monkeypatch):
    monkeypatch.setenv("DPI_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="must not carry a query"):
        Settings()


def test_a_public_url_given_in_code_is_checked_too():
    with pytest.raises(ValidationError, match="public_url"):
        Settings(public_url="127.0.0.1:8000")


def test_events_url_is_unset_or_nats(monkeypatch):
    from dpistack.core.config import Settings

    monkeypatch.setenv("DPI_EVENTS_URL", "nats://127.0.0.1:4222")
    assert Settings().events_url == "nats://127.0.0.1:4222"
    monkeypatch.setenv("DPI_EVENTS_URL", "redis://127.0.0.1:6379")
    with pytest.raises(ValueError):
        Settings()
