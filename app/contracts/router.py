"""Service contracts (维保合同) over HTTP, and the devices they cover."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import Idem, require
from app.contracts import service
from app.contracts.schemas import (
    ContractCreate,
    ContractDevicesOut,
    ContractDevicesReplace,
    ContractOut,
    ContractStatus,
    ContractUpdate,
)
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1", tags=["contracts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.contracts_write))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/contracts",
    operation_id="createContract",
    summary="Create a service contract (维保合同)",
    status_code=201,
    response_model=ContractOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_contract(body: ContractCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    contract = await service.create_contract(uow, principal, body)
    return await idem.respond(service.to_out(contract), 201, {"ETag": etag_for(contract.version)})


@router.get(
    "/contracts",
    operation_id="listContracts",
    summary="List contracts visible to the key, newest first",
    response_model=Page[ContractOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_contracts(
    principal: Reader,
    uow: UoW,
    page: Paging,
    customer_id: uuid.UUID | None = None,
    status: Annotated[
        ContractStatus | None, Query(description="Effective status (as the API shows it).")
    ] = None,
    service_level: Annotated[str | None, Query(max_length=64)] = None,
    number: Annotated[str | None, Query(max_length=64, description="Exact number.")] = None,
) -> Page[ContractOut]:
    return await service.list_contracts(
        uow,
        principal,
        page,
        customer_id=customer_id,
        status=status,
        service_level=service_level,
        number=number,
    )


@router.get(
    "/contracts/{contract_id}",
    operation_id="getContract",
    summary="Get a contract (status is the effective one)",
    response_model=ContractOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_contract(
    contract_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> ContractOut:
    contract = await service.get_contract(uow, principal, contract_id)
    set_etag(response, contract.version)
    return service.to_out(contract)


@router.patch(
    "/contracts/{contract_id}",
    operation_id="updateContract",
    summary="Update a contract (renew, suspend, change level)",
    response_model=ContractOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_contract(
    contract_id: uuid.UUID,
    body: ContractUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ContractOut:
    contract = await service.update_contract(uow, principal, contract_id, body, if_match)
    set_etag(response, contract.version)
    return service.to_out(contract)


@router.get(
    "/contracts/{contract_id}/devices",
    operation_id="listContractDevices",
    summary="The devices a contract covers",
    response_model=ContractDevicesOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def list_contract_devices(
    contract_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> ContractDevicesOut:
    contract, out = await service.covered_devices(uow, principal, contract_id)
    set_etag(response, contract.version)
    return out


@router.put(
    "/contracts/{contract_id}/devices",
    operation_id="replaceContractDevices",
    summary="Replace the set of devices a contract covers",
    response_model=ContractDevicesOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def replace_contract_devices(
    contract_id: uuid.UUID,
    body: ContractDevicesReplace,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ContractDevicesOut:
    contract, out = await service.replace_covered_devices(
        uow, principal, contract_id, body.device_ids, if_match
    )
    set_etag(response, contract.version)
    return out
