"""`dpi bench credentials`: SD-JWT VC issuance and verification per second, one process; and
W3C VC 2.0 with Data Integrity eddsa-rdfc-2022 (RDFC-1.0 canonicalization with pyld, Ed25519).

Goal (issue #11): >= 5,000 full verifications/s of a presentation with key binding (issuer
signature, disclosures, KB-JWT signature, nonce, audience, sd_hash) on a 2-core machine. The
issuer key is the platform's ES256 key from a fresh key store; the holders are many (each
presentation from its own wallet key), so the verifier meets each holder key as a stranger once.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import typer
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from dpistack.bench.report import emit, machine
from dpistack.core.keys import KeyStore
from dpistack.credentials import contexts, dataintegrity, didkey, sdjwt

ISSUER, VCT, AUD = "http://issuer.bench", "urn:dpistack:vct:national-id:1", "https://verifier.bench"
CLAIMS = {"given_name": "Amina", "family_name": "Hassan", "name": "Amina Hassan", "birthdate": "1990-04-12",
          "gender": "female", "address": "12 Harbour Road, Mombasa", "age_over_18": True}


def _rate(fn, items: list, seconds: float) -> tuple[float, int]:
    """Calls per second of ``fn`` over ``items`` (cycled) for about ``seconds``."""
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for item in items:
            fn(item)
        done += len(items)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started), done


def command(
    holders: int = typer.Option(1000, "--holders", min=1, help="Distinct wallets (credentials, presentations)."),
    seconds: float = typer.Option(3.0, "--seconds", min=0.01, help="How long each figure is measured."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Issue SD-JWT VCs, then verify presentations of two claims with key binding."""
    console = Console(stderr=json_out)
    workdir = Path(tempfile.mkdtemp(prefix="dpi-bench-credentials-"))
    try:
        keys = KeyStore(workdir / "keys")
        keys.ensure()
        info, key = keys.active("ES256")
        signing = sdjwt.SigningKey(info.kid, key.private_key)  # type: ignore[arg-type]
        trusted = sdjwt.TrustedIssuers()
        trusted.add_jwks(ISSUER, keys.jwks())
        wallets = [ec.generate_private_key(ec.SECP256R1()) for _ in range(holders)]
        jwks = [sdjwt.public_jwk(w) for w in wallets]

        def issue(jwk):
            return sdjwt.issue(CLAIMS, issuer=ISSUER, vct=VCT, key=signing, holder_jwk=jwk, decoys=3)

        issuance_per_s, issued = _rate(issue, jwks, seconds)
        credentials = [issue(jwk) for jwk in jwks]
        now = int(time.time())
        presentations = [sdjwt.present(c, ["age_over_18", "given_name"], holder_key=w, audience=AUD,
                                       nonce=f"nonce-{i}", now=now)
                         for i, (c, w) in enumerate(zip(credentials, wallets))]
        cases = [(p, f"nonce-{i}") for i, p in enumerate(presentations)]
        for p, n in cases:  # every presentation verifies (and the check is not optimised away)
            assert sdjwt.verify(p, trusted, audience=AUD, nonce=n).claims["age_over_18"] is True

        def verify(case):
            sdjwt.verify(case[0], trusted, audience=AUD, nonce=case[1])

        verifications_per_s, verified = _rate(verify, cases, seconds)
        # The floor under it: one bare ES256 signature check (a verification makes two), so a
        # reader can tell a slow verifier from a busy machine.
        jwt = credentials[0].split("~", 1)[0]
        signing_input, signature = jwt.rsplit(".", 1)
        raw = (signing_input.encode(), sdjwt.b64d(signature))
        public = key.private_key.public_key()  # type: ignore[union-attr]
        es256_per_s, _ = _rate(lambda _: sdjwt.verify_es256(public, *raw), [None] * 100, min(seconds, 1.0))
        di_issuance_per_s, di_verifications_per_s = _data_integrity(keys, min(holders, 50), seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {"bench": "credentials", **machine(), "holders": holders,
               "sdjwt_issuance_per_s": round(issuance_per_s, 1), "sdjwt_issued": issued,
               "sdjwt_verifications_per_s": round(verifications_per_s, 1), "sdjwt_verified": verified,
               "sdjwt_verify_us": round(1e6 / verifications_per_s, 1),
               "es256_verify_per_s": round(es256_per_s, 1),
               "presentation_chars": round(sum(len(p) for p in presentations) / len(presentations)),
               "goal_verifications_per_s": 5000,
               "di_issuances_per_s": round(di_issuance_per_s, 1),
               "di_verifications_per_s": round(di_verifications_per_s, 1)}
    emit(console, "dpi bench credentials", figures, json_out)


def _data_integrity(keys: KeyStore, count: int, seconds: float) -> tuple[float, float]:
    """(issuances/s, verifications/s) of a W3C VC 2.0 national ID credential with an
    eddsa-rdfc-2022 proof: two RDFC-1.0 canonicalizations, two SHA-256, one Ed25519 operation."""
    _, key = keys.active("EdDSA")
    private = key.private_key  # type: ignore[union-attr]
    method = didkey.did_key_vm(private.public_key())
    resolver = didkey.Resolver()
    unsigned = [{"@context": [contexts.CREDENTIALS_V2, contexts.DPISTACK_V1],
                 "type": ["VerifiableCredential", "NationalIdCredential"], "id": f"urn:uuid:bench-{i}",
                 "issuer": didkey.did_key(private.public_key()), "validFrom": "2026-01-01T00:00:00Z",
                 "credentialSubject": {"id": f"did:example:holder-{i}",
                                       **{k: v for k, v in CLAIMS.items() if k != "name"}}}
                for i in range(count)]
    issuance_per_s, _ = _rate(lambda c: dataintegrity.sign(c, private, method), unsigned, seconds)
    signed = [dataintegrity.sign(c, private, method) for c in unsigned]
    for c in signed:  # every credential verifies (and the check is not optimised away)
        assert dataintegrity.verify(c, resolver).controller == c["issuer"]
    verifications_per_s, _ = _rate(lambda c: dataintegrity.verify(c, resolver), signed, seconds)
    return issuance_per_s, verifications_per_s
