"""JSON-LD for Data Integrity: the bundled contexts, a document loader that serves only them,
and RDF Dataset Canonicalization (RDFC-1.0) of a document with ``pyld``.

Nothing is fetched at run time: a context URL that is not bundled is refused with
:class:`~dpistack.credentials.errors.UnknownContext`. Expansion runs in a *safe mode* of our
own (pyld has none): a property that no context defines (JSON-LD would silently drop it, so
the issuer's signature would not cover it) or a ``type`` that is not an absolute IRI raises
:class:`~dpistack.credentials.errors.UndefinedTerm`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pyld import jsonld

from dpistack.credentials.vcerrors import MalformedJsonLd, UndefinedTerm, UnknownContext

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DPISTACK_V1 = "urn:dpistack:context:credentials:v1"
BUNDLED = {
    CREDENTIALS_V2: "credentials-v2.jsonld",
    EXAMPLES_V2: "credentials-examples-v2.jsonld",
    DATA_INTEGRITY_V2: "data-integrity-v2.jsonld",
    MULTIKEY_V1: "multikey-v1.jsonld",
    DPISTACK_V1: "dpistack-credentials-v1.jsonld",
}


@cache
def context(url: str) -> dict:
    """The parsed bundled context at ``url``."""
    name = BUNDLED.get(url)
    if name is None:
        raise UnknownContext(f"The JSON-LD context {url!r} is not one this platform bundles; "
                             "contexts are never fetched.")
    return json.loads(resources.files("dpistack.credentials").joinpath("contexts", name).read_text())


def document_loader(url: str, options: dict | None = None) -> dict:
    """pyld's document loader: bundled contexts only, never the network."""
    # tag "static": pyld then keeps the processed context by URL instead of re-processing it.
    return {"contextUrl": None, "documentUrl": url, "document": context(url), "tag": "static"}


# No base IRI (pyld's default is http://example.org/base/): a relative IRI stays relative and is refused.
_OPTIONS = {"documentLoader": document_loader, "base": None}


class _Dropped(Exception):
    def __init__(self, term: str | None):
        self.term = term


def _dropped(term: str | None) -> None:
    raise _Dropped(term)


def _check_types(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _check_types(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "@type" and "@value" not in node:
                for t in value if isinstance(value, list) else [value]:
                    if not isinstance(t, str) or ":" not in t:
                        raise UndefinedTerm(f"The type {t!r} is not defined by any of the document's contexts.")
            elif key == "@id" and (not isinstance(value, str) or ":" not in value):
                raise UndefinedTerm(f"The identifier {value!r} is not an absolute IRI.")
            elif key != "@value":
                _check_types(value)


MAX_DEPTH = 32  # nesting of objects and arrays; real credentials stay far below


def too_deep(document: Any) -> bool:
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def expand(document: dict) -> list:
    """The JSON-LD expansion of ``document`` in safe mode (see the module's docstring)."""
    if not isinstance(document, dict) or "@context" not in document:
        raise MalformedJsonLd("A credential, presentation or proof is a JSON-LD object with an @context.")
    if too_deep(document):
        raise MalformedJsonLd(f"The document nests deeper than {MAX_DEPTH} levels.")
    try:
        expanded = jsonld.expand(document, _OPTIONS, on_property_dropped=_dropped)
    except _Dropped as exc:
        raise UndefinedTerm(f"The property {exc.term!r} is not defined by any of the document's contexts.") from None
    except jsonld.JsonLdError as exc:
        cause = exc
        while cause is not None:
            if isinstance(cause, UnknownContext):
                raise cause from None
            if isinstance(cause, _Dropped):
                raise UndefinedTerm(f"The property {cause.term!r} is not defined by any of the document's "
                                    "contexts.") from None
            cause = cause.__cause__ or cause.__context__
        raise MalformedJsonLd(f"Not valid JSON-LD: {exc.type if hasattr(exc, 'type') else exc}.") from None
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        raise MalformedJsonLd(f"Not valid JSON-LD: {exc}.") from None
    _check_types(expanded)
    return expanded


def canonicalize(document: dict) -> str:
    """RDFC-1.0 canonical N-Quads of ``document`` (pyld's URDNA2015, which RDFC-1.0 standardised)."""
    expanded = expand(document)
    try:
        return jsonld.normalize(expanded, dict(_OPTIONS, algorithm="URDNA2015", format="application/n-quads"))
    except jsonld.JsonLdError as exc:
        raise MalformedJsonLd(f"The document does not convert to an RDF dataset: {exc}.") from None
