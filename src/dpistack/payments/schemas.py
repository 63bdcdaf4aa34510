"""FSPIOP v1.1 bodies (OpenAPI components/schemas of the FSPIOP v1.1 definition), strict: an
element the schema does not name is refused (3103), a missing one is 3102, a malformed one 3101."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dpistack.payments.money import AMOUNT_PATTERN

CorrelationId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
DateTime = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                                        r"\.\d{3}(Z|[+-][01]\d:[0-5]\d)$")]
Date = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]
Amount = Annotated[str, Field(pattern=AMOUNT_PATTERN)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
FspId = Annotated[str, Field(min_length=1, max_length=32)]
IlpCondition = Annotated[str, Field(pattern=r"^[A-Za-z0-9-_]{43}$", max_length=48)]
IlpFulfilment = Annotated[str, Field(pattern=r"^[A-Za-z0-9-_]{43}$", max_length=48)]
IlpPacket = Annotated[str, Field(pattern=r"^[A-Za-z0-9-_]+[=]{0,2}$", min_length=1, max_length=32768)]
ErrorCode = Annotated[str, Field(pattern=r"^[1-9]\d{3}$")]
Name = Annotated[str, Field(pattern=r"^(?!\s*$)[\w .,'-]{1,128}$")]
Text128 = Annotated[str, Field(min_length=1, max_length=128)]
PartyIdType = Literal["MSISDN", "EMAIL", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID", "IBAN", "ALIAS"]
TransferState = Literal["RECEIVED", "RESERVED", "COMMITTED", "ABORTED"]


class _Body(BaseModel):
    # Python's engine: FSPIOP's Name pattern needs a look-ahead, which the default engine lacks.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


class Extension(_Body):
    key: Annotated[str, Field(min_length=1, max_length=32)]
    value: Text128


class ExtensionList(_Body):
    extension: list[Extension] = Field(min_length=1, max_length=16)


class Money(_Body):
    currency: Currency
    amount: Amount


class PartyIdInfo(_Body):
    partyIdType: PartyIdType
    partyIdentifier: Text128
    partySubIdOrType: Text128 | None = None
    fspId: FspId | None = None
    extensionList: ExtensionList | None = None


class PartyComplexName(_Body):
    firstName: Name | None = None
    middleName: Name | None = None
    lastName: Name | None = None


class PartyPersonalInfo(_Body):
    complexName: PartyComplexName | None = None
    dateOfBirth: Date | None = None


class Party(_Body):
    partyIdInfo: PartyIdInfo
    merchantClassificationCode: Annotated[str, Field(pattern=r"^[\d]{1,4}$")] | None = None
    name: Text128 | None = None
    personalInfo: PartyPersonalInfo | None = None


class Refund(_Body):
    originalTransactionId: CorrelationId
    refundReason: Text128 | None = None


class TransactionType(_Body):
    scenario: Literal["DEPOSIT", "WITHDRAWAL", "TRANSFER", "PAYMENT", "REFUND"]
    subScenario: Annotated[str, Field(pattern=r"^[A-Z_]{1,32}$")] | None = None
    initiator: Literal["PAYER", "PAYEE"]
    initiatorType: Literal["CONSUMER", "AGENT", "BUSINESS", "DEVICE"]
    refundInfo: Refund | None = None
    balanceOfPayments: Annotated[str, Field(pattern=r"^[1-9]\d{2}$")] | None = None


class GeoCode(_Body):
    latitude: Annotated[str, Field(pattern=r"^(\+|-)?(?:90(?:(?:\.0{1,6})?)|(?:[0-9]|[1-8][0-9])(?:(?:\.[0-9]{1,6})?))$")]
    longitude: Annotated[str, Field(
        pattern=r"^(\+|-)?(?:180(?:(?:\.0{1,6})?)|(?:[0-9]|[1-9][0-9]|1[0-7][0-9])(?:(?:\.[0-9]{1,6})?))$")]


class ErrorInformation(_Body):
    errorCode: ErrorCode
    errorDescription: Text128
    extensionList: ExtensionList | None = None


class ErrorInformationObject(_Body):
    errorInformation: ErrorInformation


# -- transfers --------------------------------------------------------------------------------
class TransfersPostRequest(_Body):
    transferId: CorrelationId
    payeeFsp: FspId
    payerFsp: FspId
    amount: Money
    ilpPacket: IlpPacket
    condition: IlpCondition
    expiration: DateTime
    extensionList: ExtensionList | None = None


class TransfersIDPutResponse(_Body):
    fulfilment: IlpFulfilment | None = None
    completedTimestamp: DateTime | None = None
    transferState: TransferState
    extensionList: ExtensionList | None = None


# -- account lookup ---------------------------------------------------------------------------
class ParticipantsTypeIDSubIDPostRequest(_Body):
    fspId: FspId
    currency: Currency | None = None
    extensionList: ExtensionList | None = None


class ParticipantsTypeIDPutResponse(_Body):
    fspId: FspId | None = None


class ParticipantsPostRequest(_Body):
    requestId: CorrelationId
    partyList: list[PartyIdInfo] = Field(min_length=1, max_length=10000)
    currency: Currency | None = None


class PartyResult(_Body):
    partyId: PartyIdInfo
    errorInformation: ErrorInformation | None = None


class ParticipantsIDPutResponse(_Body):
    partyList: list[PartyResult] = Field(min_length=1, max_length=10000)
    currency: Currency | None = None


class PartiesTypeIDPutResponse(_Body):
    party: Party


# -- quotes -----------------------------------------------------------------------------------
class QuotesPostRequest(_Body):
    quoteId: CorrelationId
    transactionId: CorrelationId
    transactionRequestId: CorrelationId | None = None
    payee: Party
    payer: Party
    amountType: Literal["SEND", "RECEIVE"]
    amount: Money
    fees: Money | None = None
    transactionType: TransactionType
    geoCode: GeoCode | None = None
    note: Text128 | None = None
    expiration: DateTime | None = None
    extensionList: ExtensionList | None = None


class QuotesIDPutResponse(_Body):
    transferAmount: Money
    payeeReceiveAmount: Money | None = None
    payeeFspFee: Money | None = None
    payeeFspCommission: Money | None = None
    expiration: DateTime
    geoCode: GeoCode | None = None
    ilpPacket: IlpPacket
    condition: IlpCondition
    extensionList: ExtensionList | None = None


# -- transaction requests, authorizations, transactions ---------------------------------------
class TransactionRequestsPostRequest(_Body):
    transactionRequestId: CorrelationId
    payee: Party
    payer: PartyIdInfo
    amount: Money
    transactionType: TransactionType
    note: Text128 | None = None
    geoCode: GeoCode | None = None
    authenticationType: Literal["OTP", "QRCODE"] | None = None
    expiration: DateTime | None = None
    extensionList: ExtensionList | None = None


class TransactionRequestsIDPutResponse(_Body):
    transactionId: CorrelationId | None = None
    transactionRequestState: Literal["RECEIVED", "PENDING", "ACCEPTED", "REJECTED"]
    extensionList: ExtensionList | None = None


class AuthenticationInfo(_Body):
    authentication: Literal["OTP", "QRCODE"]
    authenticationValue: Annotated[str, Field(min_length=1, max_length=64)]


class AuthorizationsIDPutResponse(_Body):
    authenticationInfo: AuthenticationInfo | None = None
    responseType: Literal["ENTERED", "REJECTED", "RESEND"]


class TransactionsIDPutResponse(_Body):
    completedTimestamp: DateTime | None = None
    transactionState: Literal["RECEIVED", "PENDING", "COMPLETED", "REJECTED"]
    code: Annotated[str, Field(pattern=r"^[0-9a-zA-Z]{4,32}$")] | None = None
    extensionList: ExtensionList | None = None


# -- bulk -------------------------------------------------------------------------------------
class IndividualQuote(_Body):
    quoteId: CorrelationId
    transactionId: CorrelationId
    payee: Party
    amountType: Literal["SEND", "RECEIVE"]
    amount: Money
    fees: Money | None = None
    transactionType: TransactionType
    note: Text128 | None = None
    extensionList: ExtensionList | None = None


class BulkQuotesPostRequest(_Body):
    bulkQuoteId: CorrelationId
    payer: Party
    geoCode: GeoCode | None = None
    expiration: DateTime | None = None
    individualQuotes: list[IndividualQuote] = Field(min_length=1, max_length=1000)
    extensionList: ExtensionList | None = None


class IndividualQuoteResult(_Body):
    quoteId: CorrelationId
    payee: Party | None = None
    transferAmount: Money | None = None
    payeeReceiveAmount: Money | None = None
    payeeFspFee: Money | None = None
    payeeFspCommission: Money | None = None
    ilpPacket: IlpPacket | None = None
    condition: IlpCondition | None = None
    errorInformation: ErrorInformation | None = None
    extensionList: ExtensionList | None = None


class BulkQuotesIDPutResponse(_Body):
    individualQuoteResults: list[IndividualQuoteResult] = Field(default_factory=list, max_length=1000)
    expiration: DateTime
    extensionList: ExtensionList | None = None


class IndividualTransfer(_Body):
    transferId: CorrelationId
    transferAmount: Money
    ilpPacket: IlpPacket
    condition: IlpCondition
    extensionList: ExtensionList | None = None


class BulkTransfersPostRequest(_Body):
    bulkTransferId: CorrelationId
    bulkQuoteId: CorrelationId
    payerFsp: FspId
    payeeFsp: FspId
    individualTransfers: list[IndividualTransfer] = Field(min_length=1, max_length=1000)
    expiration: DateTime
    extensionList: ExtensionList | None = None


class IndividualTransferResult(_Body):
    transferId: CorrelationId
    fulfilment: IlpFulfilment | None = None
    errorInformation: ErrorInformation | None = None
    extensionList: ExtensionList | None = None


class BulkTransfersIDPutResponse(_Body):
    completedTimestamp: DateTime | None = None
    individualTransferResults: list[IndividualTransferResult] = Field(default_factory=list, max_length=1000)
    bulkTransferState: Literal["RECEIVED", "PENDING", "ACCEPTED", "PROCESSING", "COMPLETED", "REJECTED"]
    extensionList: ExtensionList | None = None
