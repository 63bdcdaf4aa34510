"""SD-JWT VC: issue, present and verify (RFC 9901 "Selective Disclosure for JWTs", and
draft-ietf-oauth-sd-jwt-vc).

Written on ``cryptography`` rather than a JOSE library because it is small, central and on the
hot path of every verifier: an issuer-signed JWT (``typ: dc+sd-jwt``, ES256) whose payload
carries SHA-256 digests (``_sd``, ``_sd_alg``) of salted disclosures (base64url JSON arrays
``[salt, name, value]``, or ``[salt, value]`` for array elements), the holder's key in
``cnf.jwk``, ``vct``, ``iss``, ``iat``, ``exp``. A presentation is
``<jwt>~<disclosure>~…~<kb-jwt>``, the key-binding JWT (``typ: kb+jwt``) signed by the holder
over ``iat``, ``aud``, ``nonce`` and ``sd_hash`` (the digest of everything before it).

Tested both ways against the OpenWallet Foundation's ``@sd-jwt/sd-jwt-vc`` (tests/credentials).
Verification returns the disclosed claims or raises the specific :mod:`errors` class.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from dpistack.credentials import errors as E

SD_JWT_VC_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
SD_ALG = "sha-256"
ALG = "ES256"
MAX_PRESENTATION_CHARS = 64 * 1024
# Claims SD-JWT VC forbids to be selectively disclosable (draft-ietf-oauth-sd-jwt-vc §3.2.2.2).
NEVER_DISCLOSABLE = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "_sd", "_sd_alg", "..."})

_ECDSA = ec.ECDSA(hashes.SHA256())
_CONTAINERS = (dict, list)
_sha256 = hashlib.sha256


# -- encoding --------------------------------------------------------------------------------
def b64e(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii").rstrip("=").replace("+", "-").replace("/", "_")


def b64d(text: str) -> bytes:
    # binascii directly: base64.urlsafe_b64decode's wrappers cost more than the decoding.
    return binascii.a2b_base64(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))


_loads = json.JSONDecoder().decode  # on str: json.loads on bytes first guesses their encoding


def b64json(text: str) -> Any:
    return _loads(b64d(text).decode("utf-8"))


def _json_b64(obj: Any) -> str:
    return b64e(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _digest(text: str) -> str:
    return b64e(_sha256(text.encode("ascii")).digest())


# -- ES256 -----------------------------------------------------------------------------------
def sign_es256(private: ec.EllipticCurvePrivateKey, signing_input: bytes) -> str:
    r, s = decode_dss_signature(private.sign(signing_input, _ECDSA))
    return b64e(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify_es256(public: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, signing_input, _ECDSA)
    except InvalidSignature:
        return False
    return True


def public_jwk(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> dict:
    """The P-256 public key as a JWK (RFC 7518 §6.2)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    numbers = public.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64e(numbers.x.to_bytes(32, "big")),
            "y": b64e(numbers.y.to_bytes(32, "big"))}


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 thumbprint of a P-256 public JWK."""
    members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]}
    return b64e(_sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


_HOLDER_KEYS: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
_HOLDER_KEYS_MAX = 10_000


def key_from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its JWK (checked to be on the curve); ValueError if it is not one.
    Parsed keys are remembered (bounded), so a verifier parses each holder's key once."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not a P-256 EC public JWK")
    if "d" in jwk:
        raise ValueError("the JWK carries a private key")
    x, y = jwk.get("x"), jwk.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise ValueError("the JWK has no x and y")
    cached = _HOLDER_KEYS.get((x, y))
    if cached is not None:
        return cached
    try:
        xb, yb = b64d(x), b64d(y)
        if len(xb) != 32 or len(yb) != 32:
            raise ValueError("x and y must be 32 bytes")
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(xb, "big"), int.from_bytes(yb, "big"),
                                            ec.SECP256R1()).public_key()
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a valid P-256 point: {exc}") from exc
    if len(_HOLDER_KEYS) >= _HOLDER_KEYS_MAX:
        _HOLDER_KEYS.clear()
    _HOLDER_KEYS[(x, y)] = key
    return key


# -- JWT parts -------------------------------------------------------------------------------
def parse_jws(token: str, what: str, error: type[E.SdJwtError]) -> tuple[dict, dict, bytes, bytes]:
    """(header, payload, signing input, signature) of a compact JWS; ``error`` if malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise error(f"The {what} is not a compact JWS (three base64url parts).")
    try:
        header = b64json(parts[0])
        payload = b64json(parts[1])
        signature = b64d(parts[2])
        signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise error(f"The {what} is not valid base64url JSON.") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise error(f"The {what}'s header and payload must be JSON objects.")
    return header, payload, signing_input, signature


def sign_jws(header: dict, payload: dict, private: ec.EllipticCurvePrivateKey) -> str:
    signing_input = _json_b64(header) + "." + _json_b64(payload)
    return signing_input + "." + sign_es256(private, signing_input.encode("ascii"))


# -- issuer keys -----------------------------------------------------------------------------
class TrustedIssuers:
    """The issuers a verifier trusts and their P-256 keys, parsed once: ``(iss, kid) -> key``."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}

    def add(self, iss: str, kid: str, jwk: dict) -> None:
        self._keys[(iss, kid)] = key_from_jwk({k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk})

    def add_jwks(self, iss: str, jwks: dict) -> None:
        """Every P-256 key with a ``kid`` in a JWKS (others are ignored)."""
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and isinstance(jwk.get("kid"), str):
                self.add(iss, jwk["kid"], jwk)

    def key(self, iss: Any, kid: Any) -> ec.EllipticCurvePublicKey:
        key = self._keys.get((iss, kid)) if isinstance(iss, str) and isinstance(kid, str) else None
        if key is None:
            raise E.UnknownIssuerKey(f"No trusted key {kid!r} for issuer {iss!r}.")
        return key

    def __contains__(self, iss: str) -> bool:
        return any(i == iss for i, _ in self._keys)


# -- issuing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey


def new_salt() -> str:
    return b64e(secrets.token_bytes(16))


def make_disclosure(name: str, value: Any, salt: str | None = None) -> str:
    return _json_b64([salt or new_salt(), name, value])


def issue(claims: dict, *, issuer: str, vct: str, key: SigningKey, holder_jwk: dict,
          disclosable: Iterable[str] | None = None, decoys: int = 0, lifetime: int = 365 * 86400,
          now: int | None = None) -> str:
    """An SD-JWT VC in its issuance form ``<jwt>~<disclosure>~…~``. Every claim named in
    ``disclosable`` (default: all of ``claims``) is selectively disclosable (top level); the
    others are plain. ``decoys`` digests hide how many claims there are."""
    now = int(time.time()) if now is None else now
    names = set(claims) if disclosable is None else set(disclosable)
    if names - set(claims):
        raise ValueError(f"disclosable names no claim: {sorted(names - set(claims))}")
    if names & NEVER_DISCLOSABLE:
        raise ValueError(f"never selectively disclosable: {sorted(names & NEVER_DISCLOSABLE)}")
    payload: dict[str, Any] = {"iss": issuer, "iat": now, "exp": now + lifetime, "vct": vct,
                               "cnf": {"jwk": {k: holder_jwk[k] for k in ("kty", "crv", "x", "y")}}}
    disclosures, digests = [], []
    for name, value in claims.items():
        if name in names:
            disclosure = make_disclosure(name, value)
            disclosures.append(disclosure)
            digests.append(_digest(disclosure))
        elif name in payload:
            raise ValueError(f"claim {name!r} is set by the issuer")
        else:
            payload[name] = value
    digests.extend(b64e(_sha256(secrets.token_bytes(32)).digest()) for _ in range(decoys))
    if digests:
        payload["_sd"] = sorted(digests)  # sorted: the order says nothing about the claims
        payload["_sd_alg"] = SD_ALG
    jwt = sign_jws({"alg": ALG, "typ": SD_JWT_VC_TYP, "kid": key.kid}, payload, key.private)
    return "~".join([jwt, *disclosures, ""])


# -- holding and presenting ------------------------------------------------------------------
def disclosures_of(sd_jwt: str) -> list[tuple[str, str | None, Any]]:
    """The disclosures an SD-JWT carries as ``(disclosure, name or None, value)``, unverified
    (what a wallet shows its holder before choosing)."""
    out = []
    for part in sd_jwt.split("~")[1:]:
        if not part or "." in part:
            continue
        array = json.loads(b64d(part))
        out.append((part, array[1], array[2]) if len(array) == 3 else (part, None, array[1]))
    return out


def present(sd_jwt: str, disclose: Iterable[str], *, holder_key: ec.EllipticCurvePrivateKey,
            audience: str, nonce: str, now: int | None = None) -> str:
    """A presentation with key binding: the issuer's JWT, the disclosures of the claims named
    in ``disclose`` (by name; other disclosures are withheld), and a KB-JWT for ``audience``
    and ``nonce``."""
    wanted = set(disclose)
    jwt = sd_jwt.split("~", 1)[0]
    chosen = [d for d, name, _ in disclosures_of(sd_jwt) if name in wanted]
    prefix = "~".join([jwt, *chosen, ""])
    kb_payload = {"iat": int(time.time()) if now is None else now, "aud": audience, "nonce": nonce,
                  "sd_hash": _digest(prefix)}
    return prefix + sign_jws({"alg": ALG, "typ": KB_JWT_TYP}, kb_payload, holder_key)


# -- verifying -------------------------------------------------------------------------------
@dataclass
class Verified:
    claims: dict  # the issuer's payload with the disclosed claims in place (no _sd, _sd_alg)
    header: dict
    holder_jwk: dict | None
    key_binding: dict | None = field(default=None)  # the KB-JWT's payload


def verify(presentation: str, issuers: TrustedIssuers, *, audience: str | None = None,
           nonce: str | None = None, require_key_binding: bool = True, kb_max_age: int = 300,
           leeway: int = 60, now: float | None = None) -> Verified:
    """Verify an SD-JWT VC presentation; the disclosed claims, or the specific error.

    With ``require_key_binding`` (the default) the presentation must end in a KB-JWT signed
    by the key in ``cnf.jwk`` for ``audience`` and ``nonce``, at most ``kb_max_age`` seconds
    old, whose ``sd_hash`` covers exactly the issuer's JWT and the disclosures presented.
    """
    if not isinstance(presentation, str) or not presentation:
        raise E.MalformedSdJwt("An SD-JWT must be a non-empty string.")
    if len(presentation) > MAX_PRESENTATION_CHARS:
        raise E.MalformedSdJwt(f"The SD-JWT is longer than {MAX_PRESENTATION_CHARS} characters.")
    if not presentation.isascii():
        raise E.MalformedSdJwt("An SD-JWT is ASCII (base64url parts separated by '.' and '~').")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise E.MalformedSdJwt("Not an SD-JWT: no '~' after the issuer-signed JWT.")
    kb_jwt, disclosures = parts[-1], parts[1:-1]
    now = time.time() if now is None else now

    header, payload, signing_input, signature = parse_jws(parts[0], "issuer-signed JWT", E.MalformedSdJwt)
    if header.get("typ") != SD_JWT_VC_TYP:
        raise E.WrongType(f"The issuer-signed JWT has typ {header.get('typ')!r}; an SD-JWT VC has {SD_JWT_VC_TYP!r}.")
    if header.get("alg") != ALG:
        raise E.UnsupportedAlgorithm(f"Issuer signature algorithm {header.get('alg')!r} is not accepted (ES256 only).")
    key = issuers.key(payload.get("iss"), header.get("kid"))
    if not verify_es256(key, signing_input, signature):
        raise E.BadSignature("The issuer's signature does not verify.")
    exp = payload.get("exp")
    if exp is not None:
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise E.MalformedSdJwt("exp must be a number.")
        if exp + leeway < now:
            raise E.Expired(f"The credential expired at {int(exp)}.")
    nbf = payload.get("nbf")
    if isinstance(nbf, (int, float)) and nbf - leeway > now:
        raise E.NotYetValid(f"The credential is not valid before {int(nbf)}.")
    if not isinstance(payload.get("vct"), str):
        raise E.MalformedSdJwt("An SD-JWT VC names its type in a vct string.")
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise E.UnsupportedAlgorithm(f"_sd_alg {payload.get('_sd_alg')!r} is not supported (sha-256 only).")

    claims = _disclose(payload, disclosures)

    cnf = payload.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    result = Verified(claims=claims, header=header, holder_jwk=holder_jwk)
    if not kb_jwt:
        if require_key_binding:
            raise E.MissingKeyBinding("The presentation has no key-binding JWT (it must end with one after the last '~').")
        return result
    result.key_binding = _verify_kb(kb_jwt, holder_jwk, presentation[: len(presentation) - len(kb_jwt)],
                                    audience, nonce, kb_max_age, leeway, now)
    return result


def _disclose(payload: dict, disclosures: list[str]) -> dict:
    """The payload with the disclosed claims put in place (RFC 9901 §7.1)."""
    decoded: dict[str, list] = {}
    for disclosure in disclosures:
        if not disclosure:
            raise E.MalformedSdJwt("Empty disclosure between two '~'.")
        digest = _digest(disclosure)
        if digest in decoded:
            raise E.DuplicateDisclosure("The same disclosure is presented twice.")
        try:
            array = b64json(disclosure)
        except (ValueError, UnicodeError, binascii.Error) as exc:
            raise E.MalformedDisclosure("A disclosure is not base64url-encoded JSON.") from exc
        if (not isinstance(array, list) or len(array) not in (2, 3) or not isinstance(array[0], str)
                or (len(array) == 3 and not isinstance(array[1], str))):
            raise E.MalformedDisclosure("A disclosure must be [salt, name, value] or [salt, value].")
        decoded[digest] = array
    seen: set = set()
    used = [0]  # disclosures put in place (each digest is seen once, so each counts once)

    def take(digest: Any) -> list | None:
        if not isinstance(digest, str):
            raise E.MalformedSdJwt("A digest must be a string.")
        if digest in seen:
            raise E.DuplicateDigest("A digest appears more than once in the credential.")
        seen.add(digest)
        array = decoded.get(digest)
        if array is not None:
            used[0] += 1
        return array

    def obj(node: dict, top: bool = False) -> dict:
        out = {k: (walk(v) if isinstance(v, _CONTAINERS) else v) for k, v in node.items()
               if k != "_sd" and not (top and k == "_sd_alg")}
        sd = node.get("_sd")
        if sd is None:
            return out
        if not isinstance(sd, list):
            raise E.MalformedSdJwt("_sd must be an array of digests.")
        before = len(seen)
        try:
            seen.update(sd)
        except TypeError as exc:
            raise E.MalformedSdJwt("A digest must be a string.") from exc
        if len(seen) != before + len(sd):
            raise E.DuplicateDigest("A digest appears more than once in the credential.")
        for digest in sd:
            array = decoded.get(digest) if isinstance(digest, str) else None
            if array is None:
                continue  # a decoy, or a claim the holder did not disclose
            used[0] += 1
            if len(array) != 3:
                raise E.MalformedDisclosure("An array-element disclosure is referenced from an object's _sd.")
            _, name, value = array
            if name in ("_sd", "..."):
                raise E.MalformedDisclosure(f"A disclosure may not name the claim {name!r}.")
            if name in out:
                raise E.ClaimConflict(f"Claim {name!r} is both disclosed and present, or disclosed twice.")
            out[name] = walk(value) if isinstance(value, _CONTAINERS) else value
        return out

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return obj(value)
        if isinstance(value, list):
            out = []
            for element in value:
                if isinstance(element, dict) and len(element) == 1 and "..." in element:
                    array = take(element["..."])
                    if array is None:
                        continue
                    if len(array) != 2:
                        raise E.MalformedDisclosure("An object-property disclosure is referenced from an array.")
                    out.append(walk(array[1]))
                else:
                    out.append(walk(element))
            return out
        return value

    claims = obj(payload, top=True)
    if used[0] != len(decoded):
        raise E.UnknownDigest("A disclosure matches no digest the issuer signed: it was altered, "
                              "or it belongs to another credential.")
    return claims


def _verify_kb(kb_jwt: str, holder_jwk: Any, sd_jwt: str, audience: str | None, nonce: str | None,
               max_age: int, leeway: int, now: float) -> dict:
    header, payload, signing_input, signature = parse_jws(kb_jwt, "key-binding JWT", E.BadKeyBinding)
    if header.get("typ") != KB_JWT_TYP:
        raise E.BadKeyBinding(f"The key-binding JWT has typ {header.get('typ')!r}; it must be {KB_JWT_TYP!r}.")
    if header.get("alg") != ALG:
        raise E.UnsupportedAlgorithm(f"Key-binding algorithm {header.get('alg')!r} is not accepted (ES256 only).")
    if holder_jwk is None:
        raise E.BadKeyBinding("The credential binds no holder key (cnf.jwk), so a key-binding JWT cannot be checked.")
    try:
        key = key_from_jwk(holder_jwk)
    except ValueError as exc:
        raise E.MalformedSdJwt(f"The credential's cnf.jwk is not a usable key: {exc}.") from exc
    if not verify_es256(key, signing_input, signature):
        raise E.WrongHolderKey("The key-binding JWT is not signed by the key the credential is bound to.")
    if nonce is None or payload.get("nonce") != nonce:
        raise E.WrongNonce("The key-binding JWT carries another nonce than the one the verifier gave.")
    if audience is None or payload.get("aud") != audience:
        raise E.WrongAudience(f"The key-binding JWT is for {payload.get('aud')!r}, not for this verifier.")
    iat = payload.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise E.BadKeyBinding("The key-binding JWT has no iat.")
    if iat > now + leeway or iat < now - max_age - leeway:
        raise E.StaleKeyBinding(f"The key-binding JWT was made at {int(iat)}, outside the accepted window.")
    if payload.get("sd_hash") != _digest(sd_jwt):
        raise E.BadKeyBinding("sd_hash does not match: the disclosures presented are not those the holder signed.")
    return payload
