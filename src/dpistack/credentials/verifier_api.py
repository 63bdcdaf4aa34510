"""A verifier's HTTP API and the issuer's key discovery for foreign verifiers.

* ``GET /.well-known/jwt-vc-issuer`` — JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc §5):
  ``issuer`` (identical to the ``iss`` of our credentials) and ``jwks`` (our ES256 keys, the
  retired ones too, so credentials they signed still verify).
* ``POST /credentials/v1/verify`` — verify an SD-JWT VC presentation against this country's
  trust list, with the nonce and audience the relying party expects: ``{verified: true,
  claims, issuer}`` or ``{verified: false, error, error_description}`` where ``error`` is the
  specific reason (``untrusted_issuer``, ``bad_signature``, ``wrong_nonce``, …). A presentation
  that does not verify is an answer, not a failed request: 200. Public, like any verifier: it
  keeps nothing and tells the caller only what the caller sent. Instead of ``presentation`` it
  takes ``qr``, the text a scanner read from a card's QR code (``DPI1:`` …, see ``qr.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.credentials import qr, sdjwt, trust
from dpistack.credentials.errors import SdJwtError
from dpistack.governance import trust as registry

router = APIRouter(tags=["credentials"])


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: str | None = Field(None, min_length=1, max_length=sdjwt.MAX_PRESENTATION_CHARS,
                                     description="An SD-JWT VC presentation: <jwt>~<disclosure>~…~<kb-jwt>")
    qr: str | None = Field(None, min_length=1, max_length=qr.QR_MAX_ALPHANUMERIC + 64,
                           description="Or the text of a card's QR code (DPI1: + base45 of the zlib-compressed presentation)")
    nonce: str | None = Field(None, min_length=1, max_length=200, description="The nonce the verifier gave the holder")
    audience: str | None = Field(None, min_length=1, max_length=500, description="The verifier's identifier (KB-JWT aud)")
    require_key_binding: bool = Field(True, description="false accepts a presentation without a KB-JWT (a printed card)")

    @model_validator(mode="after")
    def _binding_needs_nonce(self):
        if (self.presentation is None) == (self.qr is None):
            raise ValueError("give exactly one of presentation and qr")
        if self.require_key_binding and (self.nonce is None or self.audience is None):
            raise ValueError("nonce and audience are required when key binding is required")
        return self


class VerifyResult(BaseModel):
    verified: bool
    claims: dict | None = None
    issuer: dict | None = None
    error: str | None = None
    error_description: str | None = None


def result_of(verified: sdjwt.Verified, entry: trust.Entry) -> dict:
    claims = {k: v for k, v in verified.claims.items() if k != "cnf"}
    return {"verified": True, "claims": claims,
            "issuer": {"iss": entry.iss, "name": entry.name, "country": entry.country, "self": entry.own}}


@router.get("/.well-known/jwt-vc-issuer", summary="JWT VC Issuer Metadata: our issuer id and keys (SD-JWT VC §5)")
def jwt_vc_issuer(platform: Platform = Depends(get_platform)) -> dict:
    return {"issuer": registry.own_issuer(platform), "jwks": registry.own_issuer_jwks(platform)}


@router.post("/credentials/v1/verify", response_model=VerifyResult,
             summary="Verify an SD-JWT VC presentation against this country's trust list")
def verify(body: VerifyRequest, platform: Platform = Depends(get_platform)) -> JSONResponse:
    try:
        presentation = body.presentation if body.qr is None else qr.decode(body.qr)
        verified, entry = trust.verify(presentation, trust.for_platform(platform), audience=body.audience,
                                       nonce=body.nonce, require_key_binding=body.require_key_binding,
                                       status=trust.platform_status(platform))
    except SdJwtError as exc:
        return JSONResponse({"verified": False, "error": exc.code, "error_description": exc.detail},
                            headers={"Cache-Control": "no-store"})
    return JSONResponse(result_of(verified, entry), headers={"Cache-Control": "no-store"})


class CardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: str = Field(min_length=1, max_length=sdjwt.MAX_PRESENTATION_CHARS,
                              description="A card presentation: the issuer's JWT and the chosen disclosures, no KB-JWT "
                                          "(<jwt>~<disclosure>~…~)")


class CardResult(BaseModel):
    qr_text: str
    svg: str
    version: int
    claims: dict


@router.post("/credentials/v1/qr", response_model=CardResult,
             responses={400: {"description": "invalid_credential_request, oversized_qr or why it does not verify"}},
             summary="The printable QR code of a card presentation (checked first against the trust list)")
def card_qr(body: CardRequest, platform: Platform = Depends(get_platform)) -> JSONResponse:
    """A wallet's help for a card: the presentation is verified as ``dpi verify`` would (a
    trusted issuer, no key binding), then encoded (``DPI1:`` + base45 of zlib) and drawn as an
    SVG. Public and stateless, like the verifier: it keeps nothing."""
    from dpistack.credentials import qr

    headers = {"Cache-Control": "no-store"}
    if not body.presentation.isascii() or not body.presentation.endswith("~"):
        return JSONResponse({"error": "invalid_credential_request",
                             "error_description": "A card is ASCII and carries no key-binding JWT: it ends with '~'."},
                            status_code=400, headers=headers)
    try:
        verified, entry = trust.verify(body.presentation, trust.for_platform(platform), require_key_binding=False,
                                       status=trust.platform_status(platform))
        text = qr.encode(body.presentation)
    except SdJwtError as exc:
        return JSONResponse({"error": exc.code, "error_description": exc.detail}, status_code=400, headers=headers)
    svg, facts = qr.render(text, "svg")
    return JSONResponse({"qr_text": text, "svg": svg.decode(), "version": facts["version"],
                         "claims": result_of(verified, entry)["claims"]}, headers=headers)
