"""Request and response shapes of the identity API."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dpistack.identity.claims import REGISTRABLE_CLAIMS, SUPPORTED_CLAIMS
from dpistack.identity.numbers import is_valid_uin


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Name(_Strict):
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47 tag, e.g. en, ar, ru-Cyrl")
    given: str = Field(min_length=1, max_length=100)
    family: str = Field(min_length=1, max_length=100)


class Biometric(_Strict):
    modality: Literal["face", "finger", "iris"]
    template: str = Field(min_length=4, max_length=65_536, description="base64 of the matcher's template")

    @field_validator("template")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("template must be base64") from exc
        return value


class EnrolmentIn(_Strict):
    names: list[Name] = Field(min_length=1, max_length=5)
    birth_date: date
    sex: Literal["female", "male", "other"]
    birth_place: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    email: str | None = Field(default=None, pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$", max_length=320)
    parents: list[str] = Field(default_factory=list, max_length=2, description="UINs of the parents")
    biometrics: list[Biometric] = Field(default_factory=list, max_length=10)
    request_id: str | None = Field(default=None, min_length=1, max_length=100,
                                   description="Idempotency key: the same request_id returns the same enrolment")

    @field_validator("birth_date")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if value > date.today() or value.year < 1880:
            raise ValueError("birth_date must be in the past and after 1880")
        return value

    @field_validator("parents")
    @classmethod
    def _uins(cls, value: list[str]) -> list[str]:
        for uin in value:
            if not is_valid_uin(uin):
                raise ValueError("each parent must be a valid UIN (format and check digit)")
        if len(set(value)) != len(value):
            raise ValueError("the same parent is listed twice")
        return value


class EnrolmentOut(BaseModel):
    enrolment_id: str
    status: Literal["pending", "issued", "duplicate", "review", "rejected"]
    uin: str | None = None
    duplicate_of: str | None = None


class ReviewCandidate(BaseModel):
    uin: str
    score: float


class ReviewItem(BaseModel):
    enrolment_id: str
    submitted_by: str
    created_at: str
    candidates: list[ReviewCandidate]


class Compared(BaseModel):
    """The demographics an operator compares (no contact details, no biometrics)."""

    names: list[dict]
    birth_date: str
    sex: str
    birth_place: str | None = None
    address: str | None = None
    parents: list[str] | None = None


class ComparedCandidate(Compared):
    uin: str
    score: float


class ReviewDetail(ReviewItem):
    enrolment: Compared
    candidates: list[ComparedCandidate]


class ReviewDecision(_Strict):
    decision: Literal["issue", "duplicate", "reject"]
    duplicate_of: str | None = Field(default=None, description="With 'duplicate': the existing UIN")
    reason: str = Field(min_length=1, max_length=1000)


IndividualId = Field(pattern=r"^[0-9]{10,16}$", description="The person's UIN or VID")
IdType = Literal["UIN", "VID"]
TransactionId = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="The relying party's transaction id")


class OtpRequest(_Strict):
    individual_id: str = IndividualId
    individual_id_type: IdType = "UIN"
    transaction_id: str = TransactionId
    channels: list[Literal["sms", "email"]] = Field(min_length=1, max_length=2)


class DemographicFactor(_Strict):
    given: str | None = Field(default=None, min_length=1, max_length=100)
    family: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    sex: Literal["female", "male", "other"] | None = None


class AuthRequest(_Strict):
    individual_id: str = IndividualId
    individual_id_type: IdType = "UIN"
    transaction_id: str = TransactionId
    otp: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    demographics: DemographicFactor | None = None
    biometrics: list[Biometric] = Field(default_factory=list, max_length=10)


class AuthResult(BaseModel):
    authenticated: bool
    transaction_id: str
    token: str | None = Field(default=None, description="Partner-specific token of the person (only on success)")


class VidRequest(_Strict):
    uin: str = Field(pattern=r"^[0-9]{10,12}$", description="The person's UIN")
    vid_type: Literal["perpetual", "temporary"]


class VidOut(BaseModel):
    vid: str
    vid_type: Literal["perpetual", "temporary"]
    status: Literal["active", "revoked", "used", "expired"]
    created_at: str
    expires_at: str | None
    transactions_left: int | None


class KycRequest(AuthRequest):
    consented_claims: list[Literal[SUPPORTED_CLAIMS]] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=len(SUPPORTED_CLAIMS),
        description="The claims the person agreed, in this transaction, to share with the relying party")
    claims_locales: list[str] = Field(default_factory=list, max_length=5,
                                      description="Preferred languages of name claims (BCP 47)")


class KycResult(AuthResult):
    kyc: str | None = Field(default=None, description="Signed JWT (JWS, ES256) of the released claims; "
                                                      "verify with /.well-known/jwks.json")


ACR_VALUES = ("idbb:acr:static-code", "idbb:acr:generated-code", "idbb:acr:linked-wallet", "idbb:acr:biometrics",
              "idbb:acr:biometrics-generated-code", "idbb:acr:linked-wallet-static-code")


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OidcClientFields(_Camel):
    """Fields shared by creating and updating an OIDC client (GovStack Identity BB, client-mgmt)."""

    client_name: str = Field(alias="clientName", min_length=1, max_length=256)
    logo_uri: str = Field(alias="logoUri", min_length=1, max_length=1024, pattern=r"^https?://")
    redirect_uris: list[str] = Field(alias="redirectUris", min_length=1, max_length=20)
    user_claims: list[Literal[REGISTRABLE_CLAIMS]] = Field(alias="userClaims", min_length=1)  # type: ignore[valid-type]
    auth_context_refs: list[Literal[ACR_VALUES]] = Field(alias="authContextRefs", min_length=1)  # type: ignore[valid-type]
    grant_types: list[Literal["authorization_code"]] = Field(alias="grantTypes", min_length=1)
    client_auth_methods: list[Literal["private_key_jwt"]] = Field(alias="clientAuthMethods", min_length=1)


class OidcClientCreate(OidcClientFields):
    client_id: str = Field(alias="clientId", min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._~-]+$")
    relying_party_id: str = Field(alias="relyingPartyId", min_length=1, max_length=50)
    public_key: dict = Field(alias="publicKey")


class OidcClientUpdate(OidcClientFields):
    status: Literal["active", "inactive"]


class ResidentOtpRequest(_Strict):
    individual_id: str = IndividualId
    individual_id_type: IdType = "UIN"
    transaction_id: str = TransactionId


class ResidentLogin(ResidentOtpRequest):
    otp: str = Field(pattern=r"^[0-9]{6}$")


class ResidentToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class AuthLocks(_Strict):
    otp: bool | None = None
    demographics: bool | None = None
    biometrics: bool | None = None


class NewVid(_Strict):
    vid_type: Literal["perpetual", "temporary"]


class ContactChangeIn(_Strict):
    field: Literal["phone", "email", "address"]
    value: str = Field(min_length=1, max_length=500)

    @field_validator("value")
    @classmethod
    def _shape(cls, value: str, info) -> str:
        import re

        field = info.data.get("field")
        if field == "phone" and not re.fullmatch(r"\+[1-9][0-9]{6,14}", value):
            raise ValueError("a phone number must be E.164, e.g. +254700000001")
        if field == "email" and not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,255}", value):
            raise ValueError("not an e-mail address")
        return value


class ContactConfirm(_Strict):
    otp: str = Field(pattern=r"^[0-9]{6}$")
