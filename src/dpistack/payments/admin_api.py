"""The hub operator API under ``/payments/admin``: Mojaloop central-ledger's admin subset
(participants, accounts, limits, endpoints, funds in/out, settlement models) and
central-settlement's windows and settlements, for the payments regulator (Cedar
``payments:admin``). Errors are FSPIOP ``errorInformation``, as central-ledger answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from dpistack.core import outbox
from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.governance.policy import require
from dpistack.payments import admin, settlement
from dpistack.payments.schemas import Currency, ErrorInformationObject, ExtensionList, Money

router = APIRouter(prefix="/payments/admin", tags=["payments admin"])
OPERATOR = Depends(require("payments:admin"))
ERRORS = {code: {"model": ErrorInformationObject} for code in (400, 401, 403, 404)}
Name = Annotated[str, Path(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
Guid = Annotated[str, Field(pattern=GUID)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewParticipant(_Body):
    name: Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
    currency: Currency


class IsActive(_Body):
    isActive: bool


class EndpointIn(_Body):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[str, Field(min_length=1, max_length=1024)]


class LimitIn(_Body):
    type: Literal["NET_DEBIT_CAP"]
    value: float | int | str
    alarmPercentage: float | int = 10


class InitialLimit(_Body):
    type: Literal["NET_DEBIT_CAP"]
    value: float | int | str


class InitialPositionAndLimits(_Body):
    currency: Currency
    limit: InitialLimit
    initialPosition: float | int | None = 0


class LimitsIn(_Body):
    currency: Currency
    limit: LimitIn


class HubAccountIn(_Body):
    currency: Currency
    type: Literal["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"]


class FundsIn(_Body):
    transferId: Guid
    externalReference: Annotated[str, Field(min_length=1, max_length=200)]
    action: Literal["recordFundsIn", "recordFundsOutPrepareReserve"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    amount: Money
    extensionList: ExtensionList | None = None


class FundsOutFinish(_Body):
    action: Literal["recordFundsOutCommit", "recordFundsOutAbort"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class SigningKeyIn(_Body):
    jwk: dict[str, Any]


class SettlementModelIn(_Body):
    name: Annotated[str, Field(min_length=2, max_length=30, pattern=r"^[A-Za-z0-9]+$")]
    settlementGranularity: Literal["GROSS", "NET"]
    settlementInterchange: Literal["BILATERAL", "MULTILATERAL"]
    settlementDelay: Literal["IMMEDIATE", "DEFERRED"]
    currency: Currency | None = None
    requireLiquidityCheck: bool
    ledgerAccountType: Literal["POSITION", "SETTLEMENT", "INTERCHANGE_FEE"]
    settlementAccountType: Literal["SETTLEMENT", "INTERCHANGE_FEE_SETTLEMENT"]
    autoPositionReset: bool


class CloseWindow(_Body):
    state: Literal["CLOSED"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class WindowRef(_Body):
    id: int


class NewSettlement(_Body):
    settlementModel: Annotated[str, Field(min_length=2, max_length=30)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    settlementWindows: list[WindowRef] = Field(min_length=1, max_length=100)


class AccountState(BaseModel):
    id: int
    state: Literal["PENDING_SETTLEMENT", "PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED",
                   "SETTLED"]
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    externalReference: Annotated[str, Field(max_length=200)] | None = None


class ParticipantStates(BaseModel):
    id: str
    accounts: list[AccountState] = Field(min_length=1)


class SettlementUpdate(_Body):
    participants: list[ParticipantStates] | None = None
    state: Literal["ABORTED"] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    externalReference: str | None = None


class RetryDead(_Body):
    ids: list[str] = Field(min_length=1, max_length=1000)


def _base(request: Request) -> str:
    return request.app.state.platform.settings.public_url


# -- participants ---------------------------------------------------------------------------------
@router.get("/participants", responses=ERRORS, summary="All participants of the switch")
def list_participants(request: Request, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return [admin.participant_view(s, p, _base(request)) for p in admin.list_participants(s)]


@router.post("/participants", status_code=201, responses=ERRORS,
             summary="Put an FSP that governance onboarded on the switch, in a currency")
def create_participant(body: NewParticipant, request: Request, caller: Caller = OPERATOR,
                       platform: Platform = Depends(get_platform)) -> JSONResponse:
    with platform.db.uow(write=True) as s:
        row = admin.create_participant(s, body.name, body.currency)
        return JSONResponse(admin.participant_view(s, row, _base(request)), status_code=201)


@router.get("/participants/limits", responses=ERRORS, summary="Limits of all participants")
def all_limits(currency: str | None = None, caller: Caller = OPERATOR,
               platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return admin.limits(s, currency=currency)


@router.get("/participants/{name}", responses=ERRORS, summary="One participant")
def get_participant(request: Request, name: Name, caller: Caller = OPERATOR,
                    platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as s:
        return admin.participant_view(s, admin.get_participant(s, name), _base(request))


@router.put("/participants/{name}", responses=ERRORS, summary="Activate or deactivate a participant")
def update_participant(body: IsActive, request: Request, name: Name, caller: Caller = OPERATOR,
                       platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return admin.participant_view(s, admin.set_participant_active(s, name, body.isActive), _base(request))


@router.get("/participants/{name}/endpoints", responses=ERRORS, summary="Callback endpoints")
def get_endpoints(name: Name, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return admin.endpoints(s, name)


@router.post("/participants/{name}/endpoints", status_code=201, responses=ERRORS,
             summary="Add or update a callback endpoint")
def set_endpoint(body: EndpointIn, name: Name, caller: Caller = OPERATOR,
                 platform: Platform = Depends(get_platform)) -> Response:
    with platform.db.uow(write=True) as s:
        admin.set_endpoint(s, name, body.type, body.value)
    return Response(status_code=201)


@router.get("/participants/{name}/limits", responses=ERRORS, summary="A participant's limits")
def get_limits(name: Name, currency: str | None = None, caller: Caller = OPERATOR,
               platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        admin.get_participant(s, name)
        return [{k: v for k, v in limit.items() if k != "name"} for limit in admin.limits(s, name, currency)]


@router.put("/participants/{name}/limits", responses=ERRORS, summary="Adjust the net debit cap")
def put_limits(body: LimitsIn, name: Name, caller: Caller = OPERATOR,
               platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return admin.set_limit(s, name, body.currency, body.limit.model_dump())


@router.post("/participants/{name}/initialPositionAndLimits", status_code=201, responses=ERRORS,
             summary="The first net debit cap (and position, 0) of a participant's currency")
def initial_limits(body: InitialPositionAndLimits, name: Name, caller: Caller = OPERATOR,
                   platform: Platform = Depends(get_platform)) -> Response:
    with platform.db.uow(write=True) as s:
        admin.initial_position_and_limits(s, name, body.currency, body.limit.model_dump(), body.initialPosition)
    return Response(status_code=201)


@router.get("/participants/{name}/positions", responses=ERRORS, summary="Positions (committed and reserved)")
def positions(name: Name, currency: str | None = None, caller: Caller = OPERATOR,
              platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return admin.positions_view(s, name, currency)


@router.get("/participants/{name}/accounts", responses=ERRORS, summary="Accounts and balances")
def accounts(name: Name, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return admin.accounts_view(s, name)


@router.post("/participants/{name}/accounts", status_code=201, responses=ERRORS,
             summary="Create a hub account (HUB_MULTILATERAL_SETTLEMENT, HUB_RECONCILIATION)")
def create_account(body: HubAccountIn, name: Name, caller: Caller = OPERATOR,
                   platform: Platform = Depends(get_platform)) -> JSONResponse:
    with platform.db.uow(write=True) as s:
        admin.create_hub_account(s, name, body.currency, body.type)
        return JSONResponse(admin.accounts_view(s, name), status_code=201)


@router.post("/participants/{name}/accounts/{account_id}", status_code=202, responses=ERRORS,
             summary="Record funds in, or prepare and reserve funds out")
def record_funds(body: FundsIn, name: Name, account_id: int = Path(ge=1), caller: Caller = OPERATOR,
                 platform: Platform = Depends(get_platform)) -> Response:
    with platform.db.uow(write=True) as s:
        admin.record_funds(s, name, account_id, body.model_dump(mode="json"))
    return Response(status_code=202)


@router.put("/participants/{name}/accounts/{account_id}", responses=ERRORS, summary="Activate or deactivate an account")
def update_account(body: IsActive, name: Name, account_id: int = Path(ge=1), caller: Caller = OPERATOR,
                   platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        a = admin.set_account_active(s, name, account_id, body.isActive)
        return {"id": a.id, "ledgerAccountType": a.type, "currency": a.currency, "isActive": 1 if a.is_active else 0}


@router.put("/participants/{name}/accounts/{account_id}/transfers/{transfer_id}", status_code=202,
            responses=ERRORS, summary="Commit or abort reserved funds out")
def finish_funds_out(body: FundsOutFinish, name: Name, account_id: int = Path(ge=1),
                     transfer_id: str = Path(pattern=GUID), caller: Caller = OPERATOR,
                     platform: Platform = Depends(get_platform)) -> Response:
    with platform.db.uow(write=True) as s:
        admin.finish_funds_out(s, name, account_id, transfer_id, body.action)
    return Response(status_code=202)


@router.get("/participants/{name}/jwsKeys", responses=ERRORS, summary="Keys the FSP signs FSPIOP messages with")
def get_keys(name: Name, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        admin.get_participant(s, name)
        return admin.signing_keys(s, name)


@router.post("/participants/{name}/jwsKeys", status_code=201, responses=ERRORS,
             summary="Register a key the FSP signs with: from then on its requests must carry FSPIOP-Signature")
def add_key(body: SigningKeyIn, name: Name, caller: Caller = OPERATOR,
            platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return admin.add_signing_key(s, name, body.jwk)


# -- settlement models, windows, settlements --------------------------------------------------------
@router.get("/settlementModels", responses=ERRORS, summary="Settlement models")
def models(caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return [admin.settlement_model_view(m) for m in admin.settlement_models(s)]


@router.post("/settlementModels", status_code=201, responses=ERRORS, summary="Create a settlement model")
def create_model(body: SettlementModelIn, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return admin.settlement_model_view(admin.create_settlement_model(s, body.model_dump()))


@router.get("/settlementModels/{name}", responses=ERRORS, summary="One settlement model")
def get_model(name: str = Path(max_length=30), caller: Caller = OPERATOR,
              platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as s:
        return admin.settlement_model_view(admin.get_settlement_model(s, name))


@router.put("/settlementModels/{name}", responses=ERRORS, summary="Activate or deactivate a settlement model")
def update_model(body: IsActive, name: str = Path(max_length=30), caller: Caller = OPERATOR,
                 platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return admin.settlement_model_view(admin.set_settlement_model_active(s, name, body.isActive))


@router.get("/settlementWindows", responses=ERRORS, summary="Settlement windows")
def windows(state: str | None = Query(None, max_length=20), participantId: str | None = Query(None, max_length=32),
            fromDateTime: datetime | None = None, toDateTime: datetime | None = None, caller: Caller = OPERATOR,
            platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return [settlement.window_view(s, w) for w in settlement.list_windows(
            s, state=state, participant=participantId, from_time=fromDateTime, to_time=toDateTime)]


@router.get("/settlementWindows/{window_id}", responses=ERRORS, summary="One settlement window")
def window(window_id: int = Path(ge=1), caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as s:
        return settlement.window_view(s, settlement._window(s, window_id))


@router.post("/settlementWindows/{window_id}", responses=ERRORS, summary="Close the open window (opens the next)")
def close(body: CloseWindow, window_id: int = Path(ge=1), caller: Caller = OPERATOR,
          platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        return settlement.window_view(s, settlement.close_window(s, window_id, body.reason))


@router.get("/settlements", responses=ERRORS, summary="Settlements")
def settlements(state: str | None = Query(None, max_length=24), caller: Caller = OPERATOR,
                platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return [settlement.settlement_view(s, x) for x in settlement.list_settlements(s, state)]


@router.post("/settlements", responses=ERRORS, summary="Settle closed windows (deferred multilateral net)")
def create_settlement(body: NewSettlement, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        row = settlement.create_settlement(s, body.settlementModel, body.reason, [w.id for w in body.settlementWindows])
        return settlement.settlement_view(s, row)


@router.get("/settlements/{settlement_id}", responses=ERRORS, summary="One settlement")
def get_settlement(settlement_id: int = Path(ge=1), caller: Caller = OPERATOR,
                   platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as s:
        return settlement.settlement_view(s, settlement.get_settlement(s, settlement_id))


@router.put("/settlements/{settlement_id}", responses=ERRORS,
            summary="Move participants' accounts on (RECORDED → RESERVED → COMMITTED → SETTLED), or abort")
def update_settlement(body: SettlementUpdate, settlement_id: int = Path(ge=1), caller: Caller = OPERATOR,
                      platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as s:
        if body.state == "ABORTED":
            return settlement.settlement_view(s, settlement.abort_settlement(s, settlement_id, body.reason or "aborted"))
        if not body.participants:
            raise admin._error("Give participants' account states, or state ABORTED", "3102")
        return settlement.update_settlement(s, settlement_id, [p.model_dump() for p in body.participants])


# -- callbacks that could not be delivered ----------------------------------------------------------
@router.get("/callbacks/dead", responses=ERRORS, summary="FSPIOP callbacks given up on (dead letters)")
def dead(limit: int = Query(100, ge=1, le=1000), caller: Caller = OPERATOR,
         platform: Platform = Depends(get_platform)) -> list:
    with platform.db.uow() as s:
        return outbox.dead_letters(s, "fspiop", limit)


@router.post("/callbacks/dead/retry", responses=ERRORS, summary="Send dead letters again")
def retry(body: RetryDead, caller: Caller = OPERATOR, platform: Platform = Depends(get_platform)) -> dict:
    ids = [int(i) for i in body.ids if i.isdigit()]
    with platform.db.uow(write=True) as s:
        return {"retried": outbox.retry_dead(s, ids)}
