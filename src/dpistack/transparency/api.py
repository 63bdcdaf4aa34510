"""The public audit API of the transparency log (``/transparency/v1``), unauthenticated on
purpose: anyone can check the log with their own RFC 9162 / signed-note code."""

from __future__ import annotations

import base64
import json

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from dpistack.core.errors import NotFound
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.transparency import service

router = APIRouter(prefix="/transparency/v1", tags=["transparency"])

MAX_INDEX = 2**62  # larger numbers are refused by validation (422) instead of overflowing SQL integers
PROBLEM = {"content": {"application/problem+json": {}}}


class EntryOut(BaseModel):
    index: int
    leaf: str
    entry: dict


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str]


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/checkpoint", response_class=PlainTextResponse, summary="Signed checkpoint (C2SP signed note)")
def checkpoint(platform: Platform = Depends(get_platform)) -> PlainTextResponse:
    return PlainTextResponse(service.signed_checkpoint(platform), headers={"Cache-Control": "no-store"})


@router.get("/verifier-key", response_class=PlainTextResponse, summary="Note verifier key of the log")
def verifier_key(platform: Platform = Depends(get_platform)) -> PlainTextResponse:
    return PlainTextResponse(service.verifier_key(platform) + "\n")


@router.get("/entries/{index}", response_model=EntryOut, responses={404: PROBLEM}, summary="One entry, exact bytes")
def entry(index: int = Path(ge=0, le=MAX_INDEX), platform: Platform = Depends(get_platform)) -> dict:
    blob = service.get_entry(platform, index)
    if blob is None:
        raise NotFound(f"The log has no entry {index}.")
    return {"index": index, "leaf": base64.b64encode(blob).decode(), "entry": json.loads(blob)}


@router.get("/proof/inclusion", response_model=InclusionProof, responses={400: PROBLEM},
            summary="RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries")
def inclusion(
    index: int = Query(ge=0, le=MAX_INDEX),
    tree_size: int = Query(ge=1, le=MAX_INDEX),
    platform: Platform = Depends(get_platform),
) -> dict:
    return {"index": index, "tree_size": tree_size,
            "hashes": _b64(service.inclusion_proof(platform, index, tree_size))}


@router.get("/proof/consistency", response_model=ConsistencyProof, responses={400: PROBLEM},
            summary="RFC 9162 consistency proof between tree sizes `first` and `second`")
def consistency(
    first: int = Query(ge=1, le=MAX_INDEX),
    second: int = Query(ge=1, le=MAX_INDEX),
    platform: Platform = Depends(get_platform),
) -> dict:
    return {"first": first, "second": second, "hashes": _b64(service.consistency_proof(platform, first, second))}
