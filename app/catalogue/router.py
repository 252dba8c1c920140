"""Catalogue HTTP: categories, product families and service levels.

Lists are cursor pages ordered by code, as every list: the catalogue is configuration
kept by hand, but product families and categories grow with the installed base, and a
client that pages them once never has to change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.access.deps import Idem, require
from app.catalogue import service
from app.catalogue.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductFamilyCreate,
    ProductFamilyOut,
    ProductFamilyUpdate,
    ServiceLevelCreate,
    ServiceLevelOut,
    ServiceLevelUpdate,
)
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import CodePageParams, Page, code_page_params, page_of
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1", tags=["catalogue"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.catalogue_write))]
CodePath = Annotated[str, Path(max_length=64, description="The catalogue code.")]
ActiveFilter = Annotated[bool | None, Query(description="Only active (or inactive) rows.")]
Paging = Annotated[CodePageParams, Depends(code_page_params)]

# -- categories ---------------------------------------------------------------------


@router.post(
    "/categories",
    operation_id="createCategory",
    summary="Create a ticket category (问题分类)",
    status_code=201,
    response_model=CategoryOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_category(body: CategoryCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    row = await service.create_category(uow, body)
    return await idem.respond(CategoryOut.model_validate(row), 201, {"ETag": etag_for(row.version)})


@router.get(
    "/categories",
    operation_id="listCategories",
    summary="List ticket categories, ordered by code",
    response_model=Page[CategoryOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_categories(
    principal: Reader,
    uow: UoW,
    page: Paging,
    active: ActiveFilter = None,
    parent_code: Annotated[
        str | None, Query(max_length=64, description="Only the children of this category.")
    ] = None,
) -> Page[CategoryOut]:
    rows = await service.list_categories(uow, page, active, parent_code)
    return page_of(CategoryOut, rows)


@router.get(
    "/categories/{code}",
    operation_id="getCategory",
    summary="Get a ticket category",
    response_model=CategoryOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_category(
    code: CodePath, principal: Reader, uow: UoW, response: Response
) -> CategoryOut:
    row = await service.get_category(uow, code)
    set_etag(response, row.version)
    return CategoryOut.model_validate(row)


@router.patch(
    "/categories/{code}",
    operation_id="updateCategory",
    summary="Update or deactivate a ticket category (active=false; never deleted)",
    response_model=CategoryOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_category(
    code: CodePath,
    body: CategoryUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> CategoryOut:
    row = await service.update_category(uow, code, body, if_match)
    set_etag(response, row.version)
    return CategoryOut.model_validate(row)


# -- product families ---------------------------------------------------------------


@router.post(
    "/product-families",
    operation_id="createProductFamily",
    summary="Create a product family (产品线)",
    status_code=201,
    response_model=ProductFamilyOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_product_family(  # type: ignore[no-untyped-def]
    body: ProductFamilyCreate, principal: Writer, uow: UoW, idem: Idem
):
    row = await service.create_product_family(uow, body)
    return await idem.respond(
        ProductFamilyOut.model_validate(row), 201, {"ETag": etag_for(row.version)}
    )


@router.get(
    "/product-families",
    operation_id="listProductFamilies",
    summary="List product families, ordered by code",
    response_model=Page[ProductFamilyOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_product_families(
    principal: Reader, uow: UoW, page: Paging, active: ActiveFilter = None
) -> Page[ProductFamilyOut]:
    rows = await service.list_product_families(uow, page, active)
    return page_of(ProductFamilyOut, rows)


@router.get(
    "/product-families/{code}",
    operation_id="getProductFamily",
    summary="Get a product family",
    response_model=ProductFamilyOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_product_family(
    code: CodePath, principal: Reader, uow: UoW, response: Response
) -> ProductFamilyOut:
    row = await service.get_product_family(uow, code)
    set_etag(response, row.version)
    return ProductFamilyOut.model_validate(row)


@router.patch(
    "/product-families/{code}",
    operation_id="updateProductFamily",
    summary="Update or deactivate a product family (active=false; never deleted)",
    response_model=ProductFamilyOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_product_family(
    code: CodePath,
    body: ProductFamilyUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ProductFamilyOut:
    row = await service.update_product_family(uow, code, body, if_match)
    set_etag(response, row.version)
    return ProductFamilyOut.model_validate(row)


# -- service levels -----------------------------------------------------------------


@router.post(
    "/service-levels",
    operation_id="createServiceLevel",
    summary="Create a service level (服务级别); is_default=true moves the default mark here",
    status_code=201,
    response_model=ServiceLevelOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_service_level(  # type: ignore[no-untyped-def]
    body: ServiceLevelCreate, principal: Writer, uow: UoW, idem: Idem
):
    row = await service.create_service_level(uow, body)
    return await idem.respond(
        ServiceLevelOut.model_validate(row), 201, {"ETag": etag_for(row.version)}
    )


@router.get(
    "/service-levels",
    operation_id="listServiceLevels",
    summary="List service levels, ordered by code",
    response_model=Page[ServiceLevelOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_service_levels(
    principal: Reader, uow: UoW, page: Paging, active: ActiveFilter = None
) -> Page[ServiceLevelOut]:
    rows = await service.list_service_levels(uow, page, active)
    return page_of(ServiceLevelOut, rows)


@router.get(
    "/service-levels/{code}",
    operation_id="getServiceLevel",
    summary="Get a service level",
    response_model=ServiceLevelOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_service_level(
    code: CodePath, principal: Reader, uow: UoW, response: Response
) -> ServiceLevelOut:
    row = await service.get_service_level(uow, code)
    set_etag(response, row.version)
    return ServiceLevelOut.model_validate(row)


@router.patch(
    "/service-levels/{code}",
    operation_id="updateServiceLevel",
    summary="Update, deactivate or make default a service level",
    response_model=ServiceLevelOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_service_level(
    code: CodePath,
    body: ServiceLevelUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ServiceLevelOut:
    row = await service.update_service_level(uow, code, body, if_match)
    set_etag(response, row.version)
    return ServiceLevelOut.model_validate(row)
