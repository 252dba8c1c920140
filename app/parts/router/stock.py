"""The stock ledger over HTTP: movements by hand, transfers, reversals, balances and
their levels, stock as of an instant, serials and where they are."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import BadRequest, problem_responses
from app.core.inputs import Instant
from app.core.pagination import Page, PageParams, decode_code_cursor, encode_cursor, page_params
from app.core.security import Permission, Principal
from app.parts.schemas.stock import (
    AdjustmentIn,
    BalanceOut,
    LevelsIn,
    MovementOut,
    PartStockOut,
    PostingOut,
    ReceiptIn,
    ReturnIn,
    ReversalIn,
    ScrapIn,
    SerialList,
    SerialOut,
    StockAsOfRow,
    TransferIn,
    TransferOut,
)
from app.parts.service import stock as service
from app.parts.service.ledger import Posting

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.stock_write))]
Paging = Annotated[PageParams, Depends(page_params)]
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
_READ_ERRORS = problem_responses(400, 401, 403, 404, 422)


def _posting(p: Posting) -> PostingOut:
    return PostingOut(batch_id=p.batch_id,
                      movements=[MovementOut.model_validate(m) for m in p.movements])  # fmt: skip


@router.post("/stock/receipts", operation_id="receiveStock", status_code=201,
             summary="Receive units into a warehouse (入库)", response_model=PostingOut,
             responses=_WRITE_ERRORS)  # fmt: skip
async def receive_stock(body: ReceiptIn, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(_posting(await service.receive(uow, principal, body)), 201)


@router.post("/stock/returns", operation_id="returnStock", status_code=201,
             summary="Return a good or defective part into a warehouse (旧件返还)",
             response_model=PostingOut, responses=_WRITE_ERRORS)  # fmt: skip
async def return_stock(body: ReturnIn, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(_posting(await service.return_part(uow, principal, body)), 201)


@router.post("/stock/scrap", operation_id="scrapStock", status_code=201,
             summary="Write units off (报废)", response_model=PostingOut,
             responses=_WRITE_ERRORS)  # fmt: skip
async def scrap_stock(body: ScrapIn, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(_posting(await service.scrap(uow, principal, body)), 201)


@router.post("/stock/adjustments", operation_id="adjustStock", status_code=201,
             summary="Record a stock count's difference (盘点调整), with its reason",
             response_model=PostingOut, responses=_WRITE_ERRORS)  # fmt: skip
async def adjust_stock(body: AdjustmentIn, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(_posting(await service.adjust(uow, principal, body)), 201)


@router.post("/stock/postings/{batch_id}/reversal", operation_id="reverseStockPosting",
             status_code=201, summary="Undo a posting with new, opposite ledger rows",
             response_model=PostingOut, responses=_WRITE_ERRORS)  # fmt: skip
async def reverse_posting(  # type: ignore[no-untyped-def]
    batch_id: uuid.UUID, body: ReversalIn, principal: Writer, uow: UoW, idem: Idem
):
    posting = await service.reverse(uow, principal, batch_id, body.reason)
    return await idem.respond(_posting(posting), 201)


@router.post("/stock/transfers", operation_id="createStockTransfer", status_code=201,
             summary="Send units to another warehouse (调拨); in transit until received",
             response_model=TransferOut, responses=_WRITE_ERRORS)  # fmt: skip
async def create_transfer(body: TransferIn, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    t = await service.transfer(uow, principal, body)
    return await idem.respond(TransferOut.model_validate(t), 201)


@router.post("/stock/transfers/{transfer_id}/receive", operation_id="receiveStockTransfer",
             summary="Receive a transfer at its destination", response_model=TransferOut,
             responses=_WRITE_ERRORS)  # fmt: skip
async def receive_transfer(transfer_id: uuid.UUID, principal: Writer, uow: UoW) -> TransferOut:
    return TransferOut.model_validate(await service.receive_transfer(uow, principal, transfer_id))


@router.get("/stock/transfers", operation_id="listStockTransfers",
            summary="List transfers, newest first", response_model=Page[TransferOut],
            responses=_READ_ERRORS)  # fmt: skip
async def list_transfers(
    principal: Reader, uow: UoW, page: Paging,
    state: Literal["in_transit", "received", "cancelled"] | None = None,
    part_id: uuid.UUID | None = None,
    warehouse_id: Annotated[uuid.UUID | None, Query(description="From or to it.")] = None,
) -> Page[TransferOut]:  # fmt: skip
    rows = await service.list_transfers(uow, page, state=state, part_id=part_id,
                                        warehouse_id=warehouse_id)  # fmt: skip
    items = [TransferOut.model_validate(t) for t in rows.items]
    return Page[TransferOut](items=items, next_cursor=rows.next_cursor)


@router.get("/stock/transfers/{transfer_id}", operation_id="getStockTransfer",
            summary="Get a transfer", response_model=TransferOut,
            responses=_READ_ERRORS)  # fmt: skip
async def get_transfer(transfer_id: uuid.UUID, principal: Reader, uow: UoW) -> TransferOut:
    return TransferOut.model_validate(await service.get_transfer(uow, transfer_id))


# --- balances ---------------------------------------------------------------------------


def _balance_cursor(cursor: str | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    if cursor is None:
        return None
    raw = decode_code_cursor(cursor)
    try:
        return uuid.UUID(raw[:32]), uuid.UUID(raw[32:])
    except ValueError as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc


@router.get("/stock/balances", operation_id="listStockBalances",
            summary="Balances per part and warehouse: on hand, reserved, available, "
            "defective, in transit, loaners", response_model=Page[BalanceOut],
            responses=_READ_ERRORS)  # fmt: skip
async def list_balances(
    principal: Reader, uow: UoW,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
    branch_id: Annotated[uuid.UUID | None, Query(description="Warehouses of this branch.")] = None,
    below_reorder: bool | None = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[BalanceOut]:  # fmt: skip
    size = page_params_size(limit)
    rows = await service.list_balances(uow, size, _balance_cursor(cursor), part_id=part_id,
                                       warehouse_id=warehouse_id, branch_id=branch_id,
                                       below_reorder=below_reorder)  # fmt: skip
    items = rows[:size]
    nxt = None
    if len(rows) > size and items:
        nxt = encode_cursor(items[-1].part_id.hex + items[-1].warehouse_id.hex)
    return Page[BalanceOut](items=[service.balance_out(b) for b in items], next_cursor=nxt)


def page_params_size(limit: int | None) -> int:
    from app.core.config import get_settings

    s = get_settings()
    return min(limit or s.default_page_size, s.max_page_size)


@router.put("/stock/balances/{part_id}/{warehouse_id}/levels", operation_id="setStockLevels",
            summary="Set the reorder point and target level of a part in a warehouse",
            response_model=BalanceOut, responses=_WRITE_ERRORS)  # fmt: skip
async def set_levels(
    part_id: uuid.UUID, warehouse_id: uuid.UUID, body: LevelsIn, principal: Writer, uow: UoW
) -> BalanceOut:
    return service.balance_out(await service.set_levels(uow, principal, part_id, warehouse_id,
                                                        body))  # fmt: skip


@router.get("/parts/{part_id}/stock", operation_id="getPartStock",
            summary="A part's stock in every warehouse now, or as of a past instant "
            "(from the ledger)", response_model=PartStockOut,
            responses=_READ_ERRORS)  # fmt: skip
async def part_stock(
    part_id: uuid.UUID, principal: Reader, uow: UoW,
    as_of: Annotated[Instant | None, Query(description="An instant (RFC 3339).")] = None,
    warehouse_id: uuid.UUID | None = None,
) -> Response | PartStockOut:  # fmt: skip
    if as_of is None:
        body = await service.part_stock_json(uow, part_id, warehouse_id)
        return Response(content=body, media_type="application/json")
    if as_of.tzinfo is None:
        raise BadRequest("as_of needs a time zone (e.g. Z or +08:00).", param="as_of")
    then = await service.part_stock_as_of(uow, part_id, as_of, warehouse_id)
    rows: list[BalanceOut | StockAsOfRow] = [
        StockAsOfRow(warehouse_id=r.warehouse_id, on_hand=r.on_hand, defective=r.defective,
                     in_transit=r.in_transit, loaners=r.loaners) for r in then
    ]  # fmt: skip
    totals = {k: sum(getattr(r, k) for r in then)
              for k in ("on_hand", "defective", "in_transit", "loaners")}  # fmt: skip
    return PartStockOut(part_id=part_id, as_of=as_of, warehouses=rows, totals=totals)


@router.get("/stock/movements", operation_id="listStockMovements",
            summary="The ledger's rows, newest first", response_model=Page[MovementOut],
            responses=_READ_ERRORS)  # fmt: skip
async def list_movements(
    principal: Reader, uow: UoW,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
    serial_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
    kind: Annotated[str | None, Query(max_length=20, pattern="^[a-z_]+$")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[MovementOut]:  # fmt: skip
    size = page_params_size(limit)
    after = None
    if cursor is not None:
        raw = decode_code_cursor(cursor)
        if not raw.isdigit() or len(raw) > 18:
            raise BadRequest("The cursor is not valid.", param="cursor")
        after = int(raw)
    rows = await service.list_movements(uow, size, after, part_id=part_id,
                                        warehouse_id=warehouse_id, serial_id=serial_id,
                                        ticket_id=ticket_id, kind=kind, since=since,
                                        until=until)  # fmt: skip
    items = rows[:size]
    nxt = encode_cursor(str(items[-1].seq)) if len(rows) > size and items else None
    return Page[MovementOut](items=[MovementOut.model_validate(m) for m in items],
                             next_cursor=nxt)  # fmt: skip


# --- serials ----------------------------------------------------------------------------


@router.get("/serials", operation_id="findSerials",
            summary="Where is serial X (and where was it at an instant)",
            response_model=SerialList, responses=_READ_ERRORS)  # fmt: skip
async def find_serials(
    principal: Reader, uow: UoW,
    serial: Annotated[str, Query(min_length=1, max_length=100, description="Exact serial.")],
    part_id: uuid.UUID | None = None,
    as_of: Instant | None = None,
    history: bool = False,
) -> SerialList:  # fmt: skip
    return SerialList(items=await service.find_serials(uow, serial, part_id, as_of, history))


@router.get("/serials/{serial_id}", operation_id="getSerial",
            summary="A serial, where it is or was at `as_of`, and optionally its history",
            response_model=SerialOut, responses=_READ_ERRORS)  # fmt: skip
async def get_serial(
    serial_id: uuid.UUID, principal: Reader, uow: UoW,
    as_of: Instant | None = None, history: bool = False,
) -> SerialOut:  # fmt: skip
    return await service.get_serial(uow, serial_id, as_of, history)
