"""The platform key store: 0600 files, JWKS with active and retired keys."""

from __future__ import annotations

import stat

from joserfc import jwt

from dpistack.core.keys import KeyStore


def test_keys_are_created_once_with_private_permissions(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.ensure()
    first = {k.kid for k in store.keys()}
    store.ensure()
    assert {k.kid for k in store.keys()} == first  # a restart does not make new keys
    assert {(k.alg, k.purpose) for k in store.keys()} == {("ES256", "jwt"), ("EdDSA", "jwt"), ("RS256", "jwt"),
                                                          ("EdDSA", "log")}
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_rotation_keeps_retired_keys_published_and_leaves_the_log_key(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.ensure()
    old_info, old_key = store.active("ES256")
    old_log = store.active("EdDSA", "log")[0].kid
    signed = jwt.encode({"alg": "ES256", "kid": old_info.kid}, {"x": 1}, old_key)
    store.rotate()
    assert store.active("ES256")[0].kid != old_info.kid
    assert store.active("EdDSA", "log")[0].kid == old_log
    published = {k["kid"]: k for k in store.jwks()["keys"]}
    assert old_info.kid in published and "d" not in published[old_info.kid]
    assert len(published) == 6  # three token keys, each active and retired
    assert jwt.decode(signed, store.verification_keyset()).claims == {"x": 1}


def test_derived_secrets_differ_by_purpose_and_persist(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.ensure()
    a, b = store.derived_secret("pii-encryption"), store.derived_secret("blind-index")
    assert len(a) == 32 and a != b
    assert KeyStore(tmp_path / "keys").derived_secret("pii-encryption") == a
