"""Biometric matching behind an interface shaped after MOSIP's ABIS API.

MOSIP talks to an Automated Biometric Identification System (ABIS) through a few operations
(ABIS API specification v0.9): **insert** (store the biometrics of a registration under a
``referenceId``; no deduplication there; a ``referenceId`` is never reused), **identify**
(1:N: compare the biometrics of a ``referenceId`` - or of a ``referenceURL`` - against a
``gallery`` of reference IDs or, with no gallery, everyone; return the candidates the ABIS
considers a match, with analytics such as a score, overall and per modality; ``flags`` such
as ``maxResults``), **delete**, **ping**, **pending jobs** and **reference count**; failures
carry a numeric ``failureReason``. MOSIP runs them over a message queue; here they are plain
calls, and a production adapter wraps the queue.

:class:`BiometricMatcher` is that interface. :class:`InMemoryABIS` is a *reference adapter*
for tests and the demo, not a biometric matcher: a template is either opaque bytes, which
match only byte for byte (score 100, else 0), or a fixed-length feature vector compared by
cosine similarity (0-100). Real deployments plug in a vendor ABIS with the same interface.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, Sequence, Union, runtime_checkable

__all__ = [
    "Template",
    "Templates",
    "Candidate",
    "ABISError",
    "BiometricMatcher",
    "InMemoryABIS",
    "FAILURE_INTERNAL_ERROR",
    "FAILURE_ABORTED",
    "FAILURE_UNEXPECTED_ERROR",
    "FAILURE_UNABLE_TO_SERVE",
    "FAILURE_MISSING_REFERENCE_ID",
    "FAILURE_UNABLE_TO_FETCH_BIOMETRICS",
]

#: One template: opaque bytes (e.g. an ISO/IEC 19794 record or a CBEFF blob) or a
#: fixed-length feature vector (e.g. a face embedding).
Template = Union[bytes, bytearray, memoryview, Sequence[float]]
#: What ``insert``/``identify`` accept: one template, several, or a mapping from modality
#: (MOSIP's biometric types ``FIR``/``FMR``/``IIR``/``FID``, or ``finger``/``iris``/``face``)
#: to one template or several. Templates without a modality compare with every modality.
Templates = Union[Template, Sequence[Template], Mapping[str, Union[Template, Sequence[Template]]]]

# failureReason codes of the MOSIP ABIS specification.
FAILURE_INTERNAL_ERROR = 1
FAILURE_ABORTED = 2
FAILURE_UNEXPECTED_ERROR = 3
FAILURE_UNABLE_TO_SERVE = 4
FAILURE_MISSING_REFERENCE_ID = 5
FAILURE_UNABLE_TO_FETCH_BIOMETRICS = 7


class ABISError(Exception):
    """An ABIS operation failed; ``failure_reason`` is the specification's code."""

    def __init__(self, failure_reason: int, message: str):
        super().__init__(message)
        self.failure_reason = failure_reason


@dataclass(frozen=True)
class Candidate:
    """A match: the stored ``reference_id``, a ``score`` from 0 to 100 (the highest over
    compatible template pairs) and the best score per modality (the spec's "analytics")."""

    reference_id: str
    score: float
    modalities: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class BiometricMatcher(Protocol):
    """What the identity service needs from an ABIS."""

    def insert(self, reference_id: str, templates: Templates) -> None:
        """Store templates under a new ``reference_id`` (an already used one is an error)."""

    def identify(
        self,
        probe: str | Templates,
        gallery: Iterable[str] | None = None,
        max_results: int = 10,
    ) -> list[Candidate]:
        """1:N search. ``probe`` is a stored reference ID (a ``str``; it is never its own
        candidate) or templates. ``gallery`` restricts the search to those reference IDs
        (unknown ones are ignored); ``None`` searches everyone. Candidates at or above the
        matcher's threshold, best first, at most ``max_results``."""

    def delete(self, reference_id: str) -> None:
        """Remove one reference (e.g. a duplicate found by identify)."""

    def ping(self) -> bool:
        """Is the matcher alive?"""

    def pending_jobs(self) -> int:
        """Requests still queued (0 for a synchronous matcher)."""

    def reference_count(self) -> int:
        """How many references are stored."""


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    modality: str | None
    digest: bytes | None  # opaque template
    vector: tuple[float, ...] | None  # unit-length feature vector


def _is_template(x: object) -> bool:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return True
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
        return True
    return False


def _one(modality: str | None, t: object) -> _Stored:
    if isinstance(t, (bytes, bytearray, memoryview)):
        if not len(t):
            raise ABISError(FAILURE_UNABLE_TO_FETCH_BIOMETRICS, "empty template")
        return _Stored(modality, hashlib.sha256(bytes(t)).digest(), None)
    if isinstance(t, (list, tuple)) and _is_template(t):
        norm = math.sqrt(sum(v * v for v in t))
        if norm == 0 or not math.isfinite(norm):
            raise ABISError(FAILURE_UNABLE_TO_FETCH_BIOMETRICS, "feature vector of zero or infinite length")
        return _Stored(modality, None, tuple(float(v) / norm for v in t))
    raise TypeError(f"a template is bytes or a sequence of numbers, not {type(t).__name__}")


def _parse(templates: Templates) -> list[_Stored]:
    if isinstance(templates, Mapping):
        items = templates.items()
    else:
        items = [(None, templates)]
    out: list[_Stored] = []
    for modality, value in items:
        values = [value] if _is_template(value) else list(value)  # type: ignore[arg-type]
        out.extend(_one(None if modality is None else str(modality), v) for v in values)
    if not out:
        raise ABISError(FAILURE_UNABLE_TO_FETCH_BIOMETRICS, "no templates")
    return out


def _compare(a: _Stored, b: _Stored) -> float | None:
    """0-100, or None when the two cannot be compared (other modality or kind)."""
    if a.modality is not None and b.modality is not None and a.modality != b.modality:
        return None
    if a.digest is not None and b.digest is not None:
        return 100.0 if a.digest == b.digest else 0.0
    if a.vector is not None and b.vector is not None:
        if len(a.vector) != len(b.vector):
            return None
        return max(0.0, min(100.0, 100.0 * sum(x * y for x, y in zip(a.vector, b.vector))))
    return None


class InMemoryABIS:
    """Reference :class:`BiometricMatcher` held in memory (tests, demo, small pilots).

    Opaque templates are indexed by SHA-256, so exact matches are found without scanning;
    feature vectors are scanned (fine for thousands, not millions). ``threshold`` (0-100) is the
    score from which a comparison is reported as a candidate. Thread-safe.
    """

    def __init__(self, threshold: float = 60.0):
        self.threshold = threshold
        self._refs: dict[str, list[_Stored]] = {}
        self._by_digest: dict[bytes, set[str]] = {}
        self._deleted: set[str] = set()
        self._lock = threading.Lock()

    def insert(self, reference_id: str, templates: Templates) -> None:
        if not reference_id:
            raise ABISError(FAILURE_MISSING_REFERENCE_ID, "missing reference id")
        stored = _parse(templates)
        with self._lock:
            if reference_id in self._refs or reference_id in self._deleted:
                raise ABISError(FAILURE_UNABLE_TO_SERVE, f"reference id {reference_id!r} was already used")
            self._refs[reference_id] = stored
            for s in stored:
                if s.digest is not None:
                    self._by_digest.setdefault(s.digest, set()).add(reference_id)

    def identify(
        self,
        probe: str | Templates,
        gallery: Iterable[str] | None = None,
        max_results: int = 10,
    ) -> list[Candidate]:
        if max_results < 1:
            return []
        with self._lock:
            if isinstance(probe, str):
                if probe not in self._refs:
                    raise ABISError(FAILURE_MISSING_REFERENCE_ID, f"unknown reference id {probe!r}")
                probes, exclude = self._refs[probe], {probe}
            else:
                probes, exclude = _parse(probe), set()
            if gallery is not None:
                targets = [r for r in dict.fromkeys(gallery) if r in self._refs and r not in exclude]
            elif all(p.vector is None for p in probes):  # opaque only: the digest index is enough
                targets = sorted({r for p in probes for r in self._by_digest.get(p.digest, ()) if r not in exclude})
            else:
                targets = [r for r in self._refs if r not in exclude]
            found = []
            for ref in targets:
                per_modality: dict[str, float] = {}
                best = None
                for p in probes:
                    for s in self._refs[ref]:
                        c = _compare(p, s)
                        if c is None:
                            continue
                        key = p.modality or s.modality or "unknown"
                        per_modality[key] = max(per_modality.get(key, 0.0), c)
                        best = c if best is None else max(best, c)
                if best is not None and best >= self.threshold:
                    found.append(Candidate(ref, best, per_modality))
        found.sort(key=lambda c: (-c.score, c.reference_id))
        return found[:max_results]

    def delete(self, reference_id: str) -> None:
        with self._lock:
            stored = self._refs.pop(reference_id, None)
            if stored is None:
                raise ABISError(FAILURE_MISSING_REFERENCE_ID, f"unknown reference id {reference_id!r}")
            self._deleted.add(reference_id)
            for s in stored:
                if s.digest is not None:
                    refs = self._by_digest.get(s.digest)
                    if refs is not None:
                        refs.discard(reference_id)
                        if not refs:
                            del self._by_digest[s.digest]

    def ping(self) -> bool:
        return True

    def pending_jobs(self) -> int:
        return 0

    def reference_count(self) -> int:
        with self._lock:
            return len(self._refs)
