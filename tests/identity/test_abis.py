"""The ABIS-shaped biometric matcher interface and its in-memory reference adapter."""

from __future__ import annotations

import math
import random

import pytest

from dpistack.identity.abis import (
    FAILURE_MISSING_REFERENCE_ID,
    FAILURE_UNABLE_TO_FETCH_BIOMETRICS,
    FAILURE_UNABLE_TO_SERVE,
    ABISError,
    BiometricMatcher,
    Candidate,
    InMemoryABIS,
)


def _vector(rng: random.Random, n: int = 64) -> list[float]:
    return [rng.gauss(0, 1) for _ in range(n)]


def _noisy(v: list[float], rng: random.Random, sigma: float) -> list[float]:
    return [x + rng.gauss(0, sigma) for x in v]


def test_reference_adapter_satisfies_the_protocol():
    assert isinstance(InMemoryABIS(), BiometricMatcher)


def test_opaque_templates_match_exactly():
    abis = InMemoryABIS()
    abis.insert("ref-1", [b"finger-template-1", b"finger-template-2"])
    abis.insert("ref-2", {"FIR": b"finger-template-3", "IIR": b"iris-template-1"})
    assert abis.reference_count() == 2
    hits = abis.identify(b"finger-template-2", max_results=5)
    assert hits == [Candidate("ref-1", 100.0, {"unknown": 100.0})]
    assert abis.identify(b"unknown-template") == []
    hits = abis.identify({"IIR": b"iris-template-1"})
    assert [(h.reference_id, h.score, dict(h.modalities)) for h in hits] == [("ref-2", 100.0, {"IIR": 100.0})]
    # A template of one modality never matches another modality, even with equal bytes.
    assert abis.identify({"FID": b"iris-template-1"}) == []


def test_identify_by_reference_id_excludes_itself():
    abis = InMemoryABIS()
    abis.insert("a", [b"same"])
    abis.insert("b", [b"same"])
    abis.insert("c", [b"other"])
    assert [h.reference_id for h in abis.identify("a")] == ["b"]
    assert abis.identify("c") == []
    with pytest.raises(ABISError) as err:
        abis.identify("nobody")
    assert err.value.failure_reason == FAILURE_MISSING_REFERENCE_ID


def test_feature_vectors_rank_by_similarity_within_a_gallery():
    rng = random.Random(4)
    abis = InMemoryABIS(threshold=70)
    people = {f"ref-{i}": _vector(rng) for i in range(50)}
    for ref, v in people.items():
        abis.insert(ref, {"FID": v})
    probe = _noisy(people["ref-7"], rng, 0.3)
    hits = abis.identify({"FID": probe}, max_results=3)
    assert hits[0].reference_id == "ref-7" and hits[0].score > 90
    assert all(h.score >= 70 for h in hits)
    # Restricted to a gallery without the person: no candidate (random vectors are far apart).
    assert abis.identify({"FID": probe}, gallery=["ref-1", "ref-2", "not-enrolled"]) == []
    assert [h.reference_id for h in abis.identify({"FID": probe}, gallery=["ref-7", "ref-1"])] == ["ref-7"]
    # Scaling does not matter (cosine), length mismatch never compares.
    assert abis.identify({"FID": [3 * x for x in people["ref-9"]]})[0].score == pytest.approx(100)
    assert abis.identify({"FID": people["ref-9"][:10]}) == []


def test_max_results_and_ordering():
    rng = random.Random(5)
    base = _vector(rng)
    abis = InMemoryABIS(threshold=0)
    for i, sigma in enumerate([0.05, 0.2, 0.4, 0.6]):
        abis.insert(f"r{i}", [_noisy(base, rng, sigma)])
    hits = abis.identify([base], max_results=3)
    assert [h.reference_id for h in hits] == ["r0", "r1", "r2"]
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert abis.identify([base], max_results=0) == []


def test_insert_rules_follow_the_abis_spec():
    abis = InMemoryABIS()
    abis.insert("r", [b"x"])
    with pytest.raises(ABISError) as err:
        abis.insert("r", [b"y"])  # a referenceId is never reused
    assert err.value.failure_reason == FAILURE_UNABLE_TO_SERVE
    with pytest.raises(ABISError) as err:
        abis.insert("", [b"y"])
    assert err.value.failure_reason == FAILURE_MISSING_REFERENCE_ID
    with pytest.raises(ABISError) as err:
        abis.insert("s", [])
    assert err.value.failure_reason == FAILURE_UNABLE_TO_FETCH_BIOMETRICS
    with pytest.raises(ABISError):
        abis.insert("t", [[0.0, 0.0]])
    with pytest.raises(ABISError):
        abis.insert("t", [[math.inf, 1.0]])
    with pytest.raises(TypeError):
        abis.insert("u", ["text is not a template"])
    assert abis.reference_count() == 1


def test_delete_removes_and_retires_the_reference():
    abis = InMemoryABIS()
    abis.insert("r1", [b"t"])
    abis.insert("r2", [b"t"])
    abis.delete("r1")
    assert [h.reference_id for h in abis.identify(b"t")] == ["r2"]
    assert abis.reference_count() == 1
    with pytest.raises(ABISError):
        abis.delete("r1")
    with pytest.raises(ABISError):
        abis.insert("r1", [b"t"])  # deleted is still used
    assert abis.ping() is True and abis.pending_jobs() == 0


def test_service_call_shapes():
    """How the identity service calls it: insert(uin, [bytes]); identify(bytes, max_results=5)."""
    abis = InMemoryABIS()
    abis.insert("1234567890", [b"base64-template"])
    (hit,) = abis.identify(b"base64-template", max_results=5)
    assert hit.reference_id == "1234567890" and hit.score >= 90
