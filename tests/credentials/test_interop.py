"""Our SD-JWT VC against an independent implementation, both ways: the OpenWallet Foundation's
@sd-jwt/sd-jwt-vc (npm, locked in package-lock.json, installed by `make test` with npm ci), run
with the machine's Node.js. Under CI=true a missing node or package fails; elsewhere it skips."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.credentials.node import node_with
from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt

HERE = Path(__file__).parent
SCRIPT = HERE / "sdjwt_interop.mjs"
CLAIMS = {"given_name": "Amara", "family_name": "Okafor", "birthdate": "1990-04-12",
          "age_over_18": True, "nationality": "NG", "address": {"locality": "Ibadan", "country": "NG"}}


def _node() -> str:
    return node_with("@sd-jwt/sd-jwt-vc")


def run_js(request: dict) -> dict:
    out = subprocess.run([_node(), str(SCRIPT)], input=json.dumps(request), capture_output=True,
                         text=True, cwd=HERE, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def keys():
    issuer, holder = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return sdjwt.SigningKey("our-key-1", issuer), holder


def test_they_verify_ours_with_selective_disclosure(keys):
    issuer, holder = keys
    credential = sdjwt.issue(CLAIMS, issuer="http://issuer.test", vct="urn:eudi:pid:1", key=issuer,
                             holder_jwk=sdjwt.public_jwk(holder), decoys=3)
    presentation = sdjwt.present(credential, ["age_over_18", "nationality"], holder_key=holder,
                                 audience="https://verifier.test", nonce="n-123")
    answer = run_js({"op": "verify", "presentation": presentation, "issuer_jwk": sdjwt.public_jwk(issuer.private),
                     "audience": "https://verifier.test", "nonce": "n-123"})
    assert answer["ok"], answer
    assert answer["header"]["typ"] == "dc+sd-jwt"
    payload = answer["payload"]
    assert payload["age_over_18"] is True and payload["nationality"] == "NG"
    assert "given_name" not in payload and "birthdate" not in payload
    assert payload["vct"] == "urn:eudi:pid:1" and payload["iss"] == "http://issuer.test"
    assert answer["kb"]["nonce"] == "n-123"


def test_they_refuse_ours_when_tampered_or_wrong_nonce(keys):
    issuer, holder = keys
    credential = sdjwt.issue(CLAIMS, issuer="http://issuer.test", vct="urn:eudi:pid:1", key=issuer,
                             holder_jwk=sdjwt.public_jwk(holder))
    presentation = sdjwt.present(credential, ["age_over_18"], holder_key=holder, audience="aud", nonce="n-1")
    base = {"op": "verify", "issuer_jwk": sdjwt.public_jwk(issuer.private), "audience": "aud"}
    assert not run_js({**base, "presentation": presentation, "nonce": "other"})["ok"]
    forged = sdjwt.make_disclosure("age_over_18", False)
    jwt, _, rest = presentation.partition("~")
    tampered = jwt + "~" + forged + "~" + rest.split("~", 1)[1]
    assert not run_js({**base, "presentation": tampered, "nonce": "n-1"})["ok"]


def test_we_verify_theirs():
    made = run_js({"op": "issue", "iss": "http://their-issuer.test", "vct": "urn:eudi:pid:1", "claims": CLAIMS,
                   "disclose": ["age_over_18", "address"], "audience": "https://verifier.test", "nonce": "n-9"})
    trusted = sdjwt.TrustedIssuers()
    trusted.add("http://their-issuer.test", made["kid"], made["issuer_jwk"])
    result = sdjwt.verify(made["presentation"], trusted, audience="https://verifier.test", nonce="n-9")
    assert result.claims["age_over_18"] is True
    assert result.claims["address"] == {"locality": "Ibadan", "country": "NG"}
    assert "given_name" not in result.claims and "_sd" not in result.claims
    assert result.key_binding["nonce"] == "n-9"
    # Their full credential, every disclosure, no key binding: all claims come back.
    full = sdjwt.verify(made["credential"], trusted, require_key_binding=False)
    assert {k: full.claims[k] for k in CLAIMS} == CLAIMS
    # And ours refuse theirs presented elsewhere, or by someone who is not the holder.
    with pytest.raises(E.WrongAudience):
        sdjwt.verify(made["presentation"], trusted, audience="https://elsewhere.test", nonce="n-9")
    stranger = ec.generate_private_key(ec.SECP256R1())
    stolen = sdjwt.present(made["credential"], ["age_over_18"], holder_key=stranger, audience="a", nonce="n")
    with pytest.raises(E.WrongHolderKey):
        sdjwt.verify(stolen, trusted, audience="a", nonce="n")
