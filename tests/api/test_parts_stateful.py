"""The spare-parts stock as a state machine, driven through the real HTTP API.

Hypothesis draws a list of steps over four parts (two plain, two serialised) and four
warehouses: receipts (some into the loaner pool), part requests (reserved where the
API finds stock or in a named warehouse, some naming serials), their steps (approve,
dispatch, deliver, fit, cancel, the defective part's return, close), good and
defective returns, scrap, count adjustments (+/-), transfers and their receipt,
reversals of the postings made by hand, RMAs of a part (serial or quantity) through
all their steps, the loaner pool (join/leave) and loans (lend, return good or
defective, sell, write off).

Each step runs through the API; a refusal (409/422) must leave everything as it was
(balances, serials, reservations, requests, transfers, RMAs, loans and the ledger).
After every step, read from the database: `stock_check` is ok (every balance equals
its ledger rows per bucket, reserved equals the active reservations, every serial is
where its last ledger row put it), nothing is negative, on hand >= reserved, a
serialised part's balances equal its serials counted by place, a serial has at most
one active reservation and one open loan, a reserved serial is free good stock where
it is reserved, an open request holds exactly its quantity; and a model kept here
(what each answered 2xx should have done, every bucket of every (part, warehouse),
every serial's place) equals the database and GET /v1/parts/{id}/stock.

Where the model also knows an answer for sure (a plain part with enough stock, a step
the workflow does not allow), the API must give it. Two races follow, then minimal
reproductions of the bugs the machine (and reading it) found, since fixed; the machine
steered clear of those cases while they were open, and still only draws them there.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.core.db import open_uow
from app.parts.service.check import stock_check
from app.parts.service.loans import business_date
from tests.api.conftest import create_ticket
from tests.api.partskit import make_part, make_warehouse, receive
from tests.factories import World

H = dict[str, str]
COLS = ("on_hand", "reserved", "defective", "in_transit", "loaners")
SERIALISED = (False, False, True, True)
N_WH = 4
OPEN_REQUEST = ("awaiting_approval", "approved", "dispatched", "delivered")
# The RMA's steps from each state (app.parts.service.rma._NEXT).
RMA_NEXT = {
    "authorised": ("receive", "cancel"),
    "received": ("send-to-vendor",),
    "in_repair": ("repaired", "replaced", "rejected"),
    "repaired": ("ship-back", "close"),
    "replaced": ("ship-back", "close"),
    "rejected": ("ship-back", "close"),
    "shipped_back": ("close",),
}
RMA_AFTER = {"receive": "received", "cancel": "cancelled", "send-to-vendor": "in_repair",
             "repaired": "repaired", "replaced": "replaced", "rejected": "rejected",
             "ship-back": "shipped_back", "close": "closed"}  # fmt: skip


# --- the steps (their reprs are what hypothesis prints for a failing run) ---------------


@dataclass(frozen=True)
class Receipt:
    part: int
    wh: int
    qty: int
    loaner: bool = False


@dataclass(frozen=True)
class Reserve:
    part: int
    wh: int | None
    qty: int
    named: bool
    pick: int
    sane: bool


@dataclass(frozen=True)
class RequestStep:
    pick: int  # -1: the newest
    action: str
    wh: int
    fresh: bool
    fork: int = 0  # which next step, where the workflow forks


@dataclass(frozen=True)
class Return:
    part: int
    wh: int
    qty: int
    condition: str
    fresh: bool
    pick: int


@dataclass(frozen=True)
class Scrap:
    part: int
    wh: int
    qty: int
    source: str
    pick: int
    sane: bool


@dataclass(frozen=True)
class Adjust:
    part: int
    wh: int
    qty: int
    pick: int
    sane: bool


@dataclass(frozen=True)
class Transfer:
    part: int
    src: int
    dst: int
    qty: int
    pick: int
    sane: bool


@dataclass(frozen=True)
class ReceiveTransfer:
    pick: int


@dataclass(frozen=True)
class Reverse:
    pick: int


@dataclass(frozen=True)
class RmaCreate:
    part: int
    pick: int
    ticket: bool
    fresh: bool
    wh: int | None
    qty: int
    sane: bool


@dataclass(frozen=True)
class RmaStep:
    pick: int  # -1: the newest
    action: str
    wh: int | None
    fork: int = 0


@dataclass(frozen=True)
class Pool:
    part: int
    pick: int
    join: bool
    sane: bool


@dataclass(frozen=True)
class Lend:
    part: int
    pick: int
    ticket: int
    sane: bool


@dataclass(frozen=True)
class LoanEnd:
    pick: int
    action: str
    wh: int


# fmt: off
_P = st.integers(0, len(SERIALISED) - 1)
_W = st.integers(0, N_WH - 1)
_PICK = st.integers(0, 40)
_SANE = st.sampled_from([True, True, True, False])
_Q = st.integers(1, 3)
_RECEIPT = st.builds(Receipt, part=_P, wh=_W, qty=_Q,
                     loaner=st.sampled_from([False, False, True]))
_RESERVE = st.builds(Reserve, part=_P, wh=st.none() | _W, qty=st.integers(1, 2),
                     named=st.booleans(), pick=_PICK, sane=_SANE)
# Mostly the workflow's next step, else any step (the ones not allowed now must be refused).
_NEXT = st.just("next")
_FORK = st.integers(0, 2)
_REQUEST = st.builds(RequestStep, pick=_PICK, wh=_W, fresh=st.booleans(), fork=_FORK,
                     action=st.one_of(_NEXT, _NEXT, _NEXT, st.sampled_from([
                         "cancel", "approve", "dispatch", "deliver", "fit", "fit-closed",
                         "defective-return", "close"])))
_RETURN = st.builds(Return, part=_P, wh=_W, qty=_Q,
                    condition=st.sampled_from(["good", "defective"]), fresh=st.booleans(),
                    pick=_PICK)
_SCRAP = st.builds(Scrap, part=_P, wh=_W, qty=_Q, source=st.sampled_from(["good", "defective"]),
                   pick=_PICK, sane=_SANE)
_ADJUST = st.builds(Adjust, part=_P, wh=_W, qty=st.sampled_from([-2, -1, 1, 2]), pick=_PICK,
                    sane=_SANE)
_TRANSFER = st.builds(Transfer, part=_P, src=_W, dst=_W, qty=_Q, pick=_PICK, sane=_SANE)
_RMA = st.builds(RmaCreate, part=_P, pick=_PICK, ticket=st.booleans(), fresh=st.booleans(),
                 wh=st.none() | _W, qty=_Q, sane=_SANE)
_RMA_STEP = st.builds(RmaStep, pick=_PICK, wh=st.none() | _W, fork=_FORK, action=st.one_of(
    _NEXT, _NEXT, _NEXT, st.sampled_from(["receive", "send-to-vendor", "repaired", "replaced",
                                          "rejected", "ship-back", "close", "cancel"])))
_POOL = st.builds(Pool, part=st.integers(2, 3), pick=_PICK, join=st.booleans(), sane=_SANE)
_LEND = st.builds(Lend, part=st.integers(2, 3), pick=_PICK, ticket=st.integers(0, 1), sane=_SANE)
_LOAN_ENDS = st.sampled_from(["return-good", "return-defective", "sell", "write-off"])
_LOAN_END = st.builds(LoanEnd, pick=_PICK, wh=_W, action=_LOAN_ENDS)
# A flow: a workflow's first step and some of its next ones on the same (newest) thing,
# in a row, so that a run of a few dozen steps gets to the workflows' later states too.
_REQUEST_FLOW = st.tuples(
    _RESERVE, st.lists(st.builds(RequestStep, pick=st.just(-1), action=_NEXT, wh=_W,
                                 fresh=st.booleans(), fork=_FORK), min_size=1, max_size=5),
).map(lambda t: [t[0], *t[1]])
_RMA_FLOW = st.tuples(
    _RMA, st.lists(st.builds(RmaStep, pick=st.just(-1), action=_NEXT, wh=st.none() | _W,
                             fork=_FORK), min_size=1, max_size=5),
).map(lambda t: [t[0], *t[1]])
_LOAN_FLOW = st.tuples(_POOL, _LEND, st.builds(LoanEnd, pick=st.just(-1), wh=_W,
                                               action=_LOAN_ENDS)).map(list)
_TRANSFER_FLOW = st.tuples(_TRANSFER, st.just(ReceiveTransfer(-1))).map(list)
# How often each kind of step is drawn (a flow counts as one): the workflows need several
# steps each to get anywhere, so theirs weigh most.
_WEIGHTED = {
    _REQUEST: 3, _RMA_STEP: 3, _RESERVE: 2, _RMA: 1, _LEND: 1, _LOAN_END: 2, _TRANSFER: 1,
    st.builds(ReceiveTransfer, pick=_PICK): 1, _SCRAP: 2, _ADJUST: 2, _RETURN: 2,
    st.builds(Reverse, pick=_PICK): 3, _POOL: 1, _RECEIPT: 2, _REQUEST_FLOW: 2, _RMA_FLOW: 3,
    _LOAN_FLOW: 1, _TRANSFER_FLOW: 1,
}
_KINDS = [strategy for strategy, weight in _WEIGHTED.items() for _ in range(weight)]
STEPS = st.sampled_from(range(len(_KINDS))).flatmap(lambda i: _KINDS[i])
# fmt: on


def flat(items: list[Any]) -> list[Any]:
    return [s for item in items for s in (item if isinstance(item, list) else [item])]


# --- the model ---------------------------------------------------------------------------


@dataclass
class SerialM:
    """Where the model says a serial is. `rows`: it has ledger rows (a reversal puts a
    serial without an earlier row out of stock, scrapped). `exists`: it has its row in
    part_serials (an RMA may name a serial first seen when it is received)."""

    part: int
    number: str
    place: str
    wh: int | None = None
    condition: str = "good"
    loaner: bool = False
    rows: bool = True
    exists: bool = True

    def state(self) -> tuple[str, int | None, str, bool]:
        return (self.place, self.wh, self.condition, self.rows)

    def put(self, place: str, wh: int | None = None, condition: str = "good",
            loaner: bool | None = None) -> None:  # fmt: skip
        self.place, self.wh, self.condition = place, wh, condition
        if loaner is not None:
            self.loaner = loaner
        self.rows = self.exists = True


@dataclass
class RequestM:
    id: str
    part: int
    qty: int
    wh: int
    state: str
    serials: list[str]


@dataclass
class TransferM:
    id: str
    part: int
    src: int
    dst: int
    qty: int
    serials: list[str]
    state: str = "in_transit"


@dataclass
class PostingM:
    """A posting made by hand (reversible): what it did to the buckets, and each serial's
    state before it (None: a serial new with it)."""

    batch_id: str
    part: int
    delta: dict[tuple[int, str], int]
    before: dict[str, tuple[str, int | None, str, bool] | None]
    reversed: bool = False


@dataclass
class RmaM:
    id: str
    part: int
    serial: str | None
    qty: int
    state: str
    wh: int | None
    customer: bool
    replacement: str | None = None


@dataclass
class LoanM:
    id: str
    serial: str
    ticket: int
    due: str
    state: str = "out"


@dataclass(frozen=True)
class Snap:
    """What the database holds of the run's parts (a refused step must not change it)."""

    balances: dict[tuple[str, str], tuple[int, ...]]
    serials: dict[str, tuple[Any, ...]]
    reservations: dict[str, tuple[Any, ...]]
    requests: dict[str, tuple[Any, ...]]
    transfers: dict[str, str]
    rmas: dict[str, tuple[Any, ...]]
    loans: dict[str, tuple[Any, ...]]
    movements: int


@dataclass
class Bed:
    """What the examples share: warehouses and tickets (each example has its own parts,
    so its balances and serials start empty)."""

    whs: list[str]
    tickets: list[str]


_BEDS: dict[uuid.UUID, Bed] = {}


async def _bed(client: httpx.AsyncClient, h: H, world: World) -> Bed:
    if world.branch_id not in _BEDS:
        kinds = ("central", "branch", "branch", "branch")
        whs = [(await make_warehouse(client, h, world.branch_id, kind=k))["id"] for k in kinds]
        tickets = [(await create_ticket(client, h, world))["id"] for _ in range(2)]
        _BEDS[world.branch_id] = Bed(whs, tickets)
    return _BEDS[world.branch_id]


def _zero() -> dict[str, int]:
    return dict.fromkeys(COLS, 0)


@dataclass
class Run:
    client: httpx.AsyncClient
    h: H
    bed: Bed
    parts: list[str]
    due: str
    bal: defaultdict[tuple[int, int], dict[str, int]] = field(
        default_factory=lambda: defaultdict(_zero)
    )
    serials: dict[str, SerialM] = field(default_factory=dict)
    requests: list[RequestM] = field(default_factory=list)
    transfers: list[TransferM] = field(default_factory=list)
    postings: list[PostingM] = field(default_factory=list)
    rmas: list[RmaM] = field(default_factory=list)
    loans: list[LoanM] = field(default_factory=list)
    snap: Snap | None = None
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- HTTP

    async def call(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            r = await self.client.post(path, json=body, headers=self.h)
        except Exception as exc:  # an unhandled error escapes the ASGI app: a 5xx
            raise AssertionError(f"POST {path} {body}: raised {exc!r}") from exc
        assert r.status_code in (200, 201, 409, 422), (
            f"POST {path} {body}: {r.status_code} {r.text}"
        )
        return r

    def wh_id(self, wh: int) -> str:
        return self.bed.whs[wh]

    def wh_index(self, wh_id: Any) -> int | None:
        return None if wh_id is None else self.bed.whs.index(str(wh_id))

    # -- serials

    def fresh(self, part: int, n: int) -> list[str]:
        return [f"S{part}-{next(self.numbers)}" for _ in range(n)]

    def of_part(self, part: int) -> list[SerialM]:
        return [s for s in self.serials.values() if s.part == part]

    def reserved(self) -> set[str]:
        return {n for r in self.requests if r.state in OPEN_REQUEST for n in r.serials}

    def on_loan(self) -> set[str]:
        return {loan.serial for loan in self.loans if loan.state == "out"}

    def at_vendor_for_rma(self) -> set[str]:
        return {r.serial for r in self.rmas if r.serial and r.state == "in_repair"}

    def free_good(self, part: int, wh: int | None = None) -> list[SerialM]:
        held = self.reserved()
        return [s for s in self.of_part(part)
                if s.place == "warehouse" and s.condition == "good" and not s.loaner
                and s.number not in held and (wh is None or s.wh == wh)]  # fmt: skip

    def pick_serials(self, pool: list[SerialM], every: list[SerialM], qty: int, pick: int,
                     sane: bool) -> list[SerialM] | None:  # fmt: skip
        """`qty` serials from `pool` (the plausible ones) or, not sane, from all."""
        source = pool if sane else every
        if len(source) < qty:
            return None
        start = pick % len(source)
        return [source[(start + i) % len(source)] for i in range(qty)]

    def outside(self, part: int) -> list[SerialM]:
        """Serials that may come back into stock. Not a serial out on an open loan nor one
        with the vendor under an open RMA: bringing those in by hand is the bug of
        test_a_lent_serial_is_not_brought_into_stock_by_hand (and ..._vendor_serial_...)."""
        busy = self.on_loan() | self.at_vendor_for_rma()
        return [s for s in self.of_part(part)
                if s.exists and s.place in ("customer", "vendor", "scrapped")
                and s.number not in busy]  # fmt: skip

    # -- postings

    def apply(self, part: int, delta: dict[tuple[int, str], int]) -> None:
        for (wh, col), n in delta.items():
            self.bal[(part, wh)][col] += n

    def record(self, r: httpx.Response, part: int, delta: dict[tuple[int, str], int],
               before: dict[str, tuple[str, int | None, str, bool] | None]) -> None:  # fmt: skip
        self.postings.append(PostingM(r.json()["batch_id"], part, delta, before))


def expect(ok: bool, must: bool | None, step: Any, r: httpx.Response) -> None:
    if must is True:
        assert ok, f"{step}: refused though the model has room for it: {r.status_code} {r.text}"
    if must is False:
        assert not ok, f"{step}: accepted though the model says it cannot be: {r.text}"


def _ok(r: httpx.Response) -> bool:
    return r.status_code in (200, 201)


def _available(run: Run, part: int, wh: int) -> int:
    b = run.bal[(part, wh)]
    return b["on_hand"] - b["reserved"]


def _stocked(run: Run, part: int, wh: int, source: str = "good") -> int:
    """`wh`, or if it has none of the part (good available, or defective), the warehouse
    that has most: a sane step goes where there is something to move."""

    def have(w: int) -> int:
        return _available(run, part, w) if source == "good" else run.bal[(part, w)]["defective"]

    return wh if have(wh) > 0 else max(range(N_WH), key=lambda w: (have(w), -w))


# --- the handlers: one HTTP call each, the model updated only on a 2xx -----------------


async def do_receipt(run: Run, s: Receipt) -> bool:
    serialised = SERIALISED[s.part]
    numbers = run.fresh(s.part, s.qty) if serialised else None
    body = {"part_id": run.parts[s.part], "warehouse_id": run.wh_id(s.wh), "quantity": s.qty,
            "loaner": s.loaner, **({"serials": numbers} if numbers else {})}  # fmt: skip
    r = await run.call("/v1/stock/receipts", body)
    expect(_ok(r), serialised or not s.loaner, s, r)
    if not _ok(r):
        return False
    col = "loaners" if s.loaner else "on_hand"
    delta = {(s.wh, col): s.qty}
    run.apply(s.part, delta)
    for n in numbers or []:
        run.serials[n] = SerialM(s.part, n, "warehouse", s.wh, "good", s.loaner)
    run.record(r, s.part, delta, dict.fromkeys(numbers or []))
    return True


def _reserve_must(run: Run, s: Reserve, named: list[SerialM] | None) -> bool | None:
    whs = [s.wh] if s.wh is not None else list(range(N_WH))
    if not SERIALISED[s.part]:
        return any(_available(run, s.part, w) >= s.qty for w in whs)
    if named is None:
        return any(len(run.free_good(s.part, w)) >= s.qty for w in whs)
    free = {x.number for x in run.free_good(s.part)}
    places = {x.wh for x in named}
    if all(x.number in free for x in named) and len(places) == 1:
        return s.wh is None or places == {s.wh}
    return None


async def do_reserve(run: Run, s: Reserve) -> bool:
    line: dict[str, Any] = {"part_id": run.parts[s.part], "quantity": s.qty}
    if s.wh is not None:
        line["warehouse_id"] = run.wh_id(s.wh)
    named = None
    if SERIALISED[s.part] and s.named:
        pool = run.free_good(s.part, s.wh)
        if pool and s.wh is None:
            pool = [x for x in pool if x.wh == pool[s.pick % len(pool)].wh]
        named = run.pick_serials(pool, run.of_part(s.part), s.qty, s.pick, s.sane)
        if named is None:
            return False  # nothing to name: no call
        line["serials"] = [x.number for x in named]
    ticket = run.bed.tickets[s.pick % len(run.bed.tickets)]
    r = await run.call(f"/v1/tickets/{ticket}/part-requests", {"lines": [line]})
    expect(_ok(r), _reserve_must(run, s, named), s, r)
    if not _ok(r):
        return False
    [req] = r.json()["items"]
    wh = run.wh_index(req["warehouse_id"])
    assert wh is not None and _available(run, s.part, wh) >= s.qty, (s, req)
    assert run.snap is not None
    by_id = {v: k for k, v in _serial_ids(run.snap).items()}
    held = [by_id[x["serial_id"]] for x in req["reservations"] if x["serial_id"]]
    if SERIALISED[s.part]:
        free = {x.number for x in run.free_good(s.part, wh)}
        assert len(held) == s.qty and set(held) <= free, (s, req, held, free)
        if named is not None:
            assert set(held) == {x.number for x in named}, (s, req)
    run.bal[(s.part, wh)]["reserved"] += s.qty
    run.requests.append(RequestM(req["id"], s.part, s.qty, wh, req["state"], held))
    return True


def _serial_ids(snap: Snap) -> dict[str, str]:
    """Serial number -> id (numbers are unique across the run's parts)."""
    return {v[1]: k for k, v in snap.serials.items()}


_REQUEST_FROM = {"cancel": OPEN_REQUEST, "approve": ("awaiting_approval",),
                 "dispatch": ("approved",), "deliver": ("dispatched",),
                 "fit": ("dispatched", "delivered"), "fit-closed": ("dispatched", "delivered"),
                 "defective-return": ("fitted",), "close": ("fitted",)}  # fmt: skip
_REQUEST_TO = {"cancel": "cancelled", "approve": "approved", "dispatch": "dispatched",
               "deliver": "delivered", "fit": "fitted", "fit-closed": "closed",
               "defective-return": "closed", "close": "closed"}  # fmt: skip


# The workflow's next step from each state (two choices where it forks).
_REQUEST_NEXT = {"awaiting_approval": ("approve", "approve"), "approved": ("dispatch", "dispatch"),
                 "dispatched": ("deliver", "fit"), "delivered": ("fit", "fit-closed"),
                 "fitted": ("defective-return", "close")}  # fmt: skip


def _request_and_action(run: Run, s: RequestStep) -> tuple[RequestM, str] | None:
    """The request and the step: "next" takes a request still going and its next step."""
    if s.action != "next":
        return (run.requests[s.pick % len(run.requests)], s.action) if run.requests else None
    going = [r for r in run.requests if r.state in _REQUEST_NEXT]
    if not going:
        return None
    req = going[s.pick % len(going)]
    return req, _REQUEST_NEXT[req.state][s.fork % 2]


async def do_request_step(run: Run, s: RequestStep) -> bool:
    found = _request_and_action(run, s)
    if found is None:
        return False
    req, action = found
    allowed = req.state in _REQUEST_FROM[action]
    body: dict[str, Any] = {}
    must: bool | None = allowed
    numbers: list[str] = []
    if action == "fit-closed":
        body = {"return_expected": False}
    elif action == "close":
        body = {"note": "客户保留旧件 / kept by the customer"}
    elif action == "defective-return":
        body = {"warehouse_id": run.wh_id(s.wh)}
        if SERIALISED[req.part]:
            numbers = run.fresh(req.part, req.qty) if s.fresh else list(req.serials)
            body["serials"] = numbers
            gone = [run.serials[n] for n in numbers if n in run.serials]
            if allowed and any(x.place in ("warehouse", "in_transit") for x in gone):
                must = None
            if allowed and any(x.number in run.on_loan() | run.at_vendor_for_rma() for x in gone):
                return False  # test_a_lent_serial_is_not_brought_into_stock_by_hand
    path = "fit" if action == "fit-closed" else action
    r = await run.call(f"/v1/part-requests/{req.id}/{path}", body)
    expect(_ok(r), must, (s, action), r)
    if not _ok(r):
        return False
    assert r.json()["state"] == _REQUEST_TO[action], (s, action, r.json())
    key = (req.part, req.wh)
    if action == "cancel":
        run.bal[key]["reserved"] -= req.qty
    elif action in ("fit", "fit-closed"):
        run.bal[key]["reserved"] -= req.qty
        run.bal[key]["on_hand"] -= req.qty
        for n in req.serials:
            run.serials[n].put("customer")
    elif action == "defective-return":
        run.bal[(req.part, s.wh)]["defective"] += req.qty
        for n in numbers:
            run.serials.setdefault(n, SerialM(req.part, n, "customer"))
            run.serials[n].put("warehouse", s.wh, "defective", loaner=False)
    req.state = _REQUEST_TO[action]
    return True


async def do_return(run: Run, s: Return) -> bool:
    numbers: list[str] = []
    picked: list[SerialM] = []
    if SERIALISED[s.part]:
        if s.fresh:
            numbers = run.fresh(s.part, s.qty)
        else:
            got = run.pick_serials(run.outside(s.part), [], s.qty, s.pick, True)
            if got is None:
                return False
            picked, numbers = got, [x.number for x in got]
    body = {"part_id": run.parts[s.part], "warehouse_id": run.wh_id(s.wh), "quantity": s.qty,
            "condition": s.condition, **({"serials": numbers} if numbers else {})}  # fmt: skip
    r = await run.call("/v1/stock/returns", body)
    expect(_ok(r), True, s, r)
    col = "on_hand" if s.condition == "good" else "defective"
    delta = {(s.wh, col): s.qty}
    run.apply(s.part, delta)
    before: dict[str, tuple[str, int | None, str, bool] | None] = dict.fromkeys(numbers)
    for x in picked:
        before[x.number] = x.state()
    for n in numbers:
        run.serials.setdefault(n, SerialM(s.part, n, "vendor", rows=False))
        run.serials[n].put("warehouse", s.wh, s.condition,
                           loaner=False if s.condition == "good" else None)  # fmt: skip
    run.record(r, s.part, delta, before)
    return True


def _scrap_pool(run: Run, part: int, wh: int, source: str) -> list[SerialM]:
    if source == "good":
        return run.free_good(part, wh)
    return [x for x in run.of_part(part)
            if (x.place, x.wh, x.condition) == ("warehouse", wh, "defective")]  # fmt: skip


async def do_scrap(run: Run, s: Scrap) -> bool:
    if s.sane:
        s = replace(s, wh=_stocked(run, s.part, s.wh, s.source))
    picked = None
    if SERIALISED[s.part]:
        pool = _scrap_pool(run, s.part, s.wh, s.source)
        picked = run.pick_serials(pool, run.of_part(s.part), s.qty, s.pick, s.sane)
        if picked is None:
            return False
    body = {"part_id": run.parts[s.part], "warehouse_id": run.wh_id(s.wh), "quantity": s.qty,
            "source": s.source, "reason": "损坏报废 / damaged",
            **({"serials": [x.number for x in picked]} if picked else {})}  # fmt: skip
    r = await run.call("/v1/stock/scrap", body)
    col = "on_hand" if s.source == "good" else "defective"
    if picked is None:
        have = _available(run, s.part, s.wh) if s.source == "good" else run.bal[(s.part, s.wh)][col]
        must: bool | None = have >= s.qty
    else:
        pool_numbers = {x.number for x in _scrap_pool(run, s.part, s.wh, s.source)}
        must = True if all(x.number in pool_numbers for x in picked) else None
    expect(_ok(r), must, s, r)
    if not _ok(r):
        return False
    delta = {(s.wh, col): -s.qty}
    run.apply(s.part, delta)
    before = {x.number: x.state() for x in picked or []}
    for x in picked or []:
        x.put("scrapped")
    run.record(r, s.part, delta, dict(before))
    return True


async def do_adjust(run: Run, s: Adjust) -> bool:
    if s.sane and s.qty < 0:
        s = replace(s, wh=_stocked(run, s.part, s.wh))
    numbers: list[str] = []
    picked: list[SerialM] = []
    if SERIALISED[s.part]:
        if s.qty > 0:
            numbers = run.fresh(s.part, s.qty)
        else:
            got = run.pick_serials(run.free_good(s.part, s.wh), run.of_part(s.part), -s.qty,
                                   s.pick, s.sane)  # fmt: skip
            if got is None:
                return False
            picked, numbers = got, [x.number for x in got]
    body = {"part_id": run.parts[s.part], "warehouse_id": run.wh_id(s.wh), "quantity": s.qty,
            "reason": "盘点差异 / stock count", **({"serials": numbers} if numbers else {})}  # fmt: skip
    r = await run.call("/v1/stock/adjustments", body)
    if s.qty > 0:
        must: bool | None = True
    elif not SERIALISED[s.part]:
        must = _available(run, s.part, s.wh) >= -s.qty
    else:
        free = {x.number for x in run.free_good(s.part, s.wh)}
        must = True if all(n in free for n in numbers) else None
    expect(_ok(r), must, s, r)
    if not _ok(r):
        return False
    delta = {(s.wh, "on_hand"): s.qty}
    run.apply(s.part, delta)
    before: dict[str, tuple[str, int | None, str, bool] | None] = dict.fromkeys(numbers)
    for x in picked:
        before[x.number] = x.state()
        x.put("scrapped")
    for n in numbers if s.qty > 0 else []:
        run.serials[n] = SerialM(s.part, n, "warehouse", s.wh, "good", False)
    run.record(r, s.part, delta, before)
    return True


async def do_transfer(run: Run, s: Transfer) -> bool:
    if s.sane:  # from where there is stock, to another warehouse
        src = _stocked(run, s.part, s.src)
        s = replace(s, src=src, dst=s.dst if s.dst != src else (src + 1) % N_WH)
    picked = None
    if SERIALISED[s.part]:
        picked = run.pick_serials(run.free_good(s.part, s.src), run.of_part(s.part), s.qty,
                                  s.pick, s.sane)  # fmt: skip
        if picked is None:
            return False
    body = {"part_id": run.parts[s.part], "from_warehouse_id": run.wh_id(s.src),
            "to_warehouse_id": run.wh_id(s.dst), "quantity": s.qty,
            **({"serials": [x.number for x in picked]} if picked else {})}  # fmt: skip
    r = await run.call("/v1/stock/transfers", body)
    if s.src == s.dst:
        must: bool | None = False
    elif picked is None:
        must = _available(run, s.part, s.src) >= s.qty
    else:
        free = {x.number for x in run.free_good(s.part, s.src)}
        must = True if all(x.number in free for x in picked) else None
    expect(_ok(r), must, s, r)
    if not _ok(r):
        return False
    run.apply(s.part, {(s.src, "on_hand"): -s.qty, (s.dst, "in_transit"): s.qty})
    for x in picked or []:
        x.put("in_transit", s.dst)
    numbers = [x.number for x in picked or []]
    run.transfers.append(TransferM(r.json()["id"], s.part, s.src, s.dst, s.qty, numbers))
    return True


async def do_receive_transfer(run: Run, s: ReceiveTransfer) -> bool:
    if not run.transfers:
        return False
    t = run.transfers[s.pick % len(run.transfers)]
    r = await run.call(f"/v1/stock/transfers/{t.id}/receive")
    expect(_ok(r), t.state == "in_transit", s, r)
    if not _ok(r):
        return False
    run.apply(t.part, {(t.dst, "in_transit"): -t.qty, (t.dst, "on_hand"): t.qty})
    for n in t.serials:
        run.serials[n].put("warehouse", t.dst, "good", loaner=False)
    t.state = "received"
    return True


async def do_reverse(run: Run, s: Reverse) -> bool:
    if not run.postings:
        return False
    p = run.postings[s.pick % len(run.postings)]
    if set(p.before) & (run.on_loan() | run.at_vendor_for_rma()):
        return False  # the bug of test_reversal_does_not_pull_back_a_serial_that_moved_on
    r = await run.call(f"/v1/stock/postings/{p.batch_id}/reversal", {"reason": "录入错误 / typo"})
    expect(_ok(r), False if p.reversed else None, s, r)
    if not _ok(r):
        return False
    run.apply(p.part, {k: -v for k, v in p.delta.items()})
    for n, was in p.before.items():
        x = run.serials[n]
        if was is None or not was[3]:
            x.put("scrapped", loaner=None)
        else:
            x.put(was[0], was[1], was[2])
    p.reversed = True
    return True


async def do_rma_create(run: Run, s: RmaCreate) -> bool:
    if s.sane and not s.ticket and s.wh is None:
        s = replace(s, ticket=True)  # a branch to file it under
    body: dict[str, Any] = {"part_id": run.parts[s.part], "reason": "返厂检测 / vendor check"}
    if s.ticket:
        body["ticket_id"] = run.bed.tickets[0]
    if s.wh is not None:
        body["warehouse_id"] = run.wh_id(s.wh)
    number, known = None, None
    if SERIALISED[s.part]:
        if s.fresh:
            number = run.fresh(s.part, 1)[0]
        else:
            every = [x for x in run.of_part(s.part) if x.exists]
            returnable = [x for x in every if not x.loaner and (x.place == "customer" or (
                x.place, x.condition) == ("warehouse", "defective"))]  # fmt: skip
            got = run.pick_serials(returnable, every, 1, s.pick, s.sane)
            if got is None:
                return False
            [known] = got
            number = known.number
        body["serial"] = number
    else:
        body["quantity"] = s.qty
    r = await run.call("/v1/rmas", body)
    if not s.ticket and s.wh is None and (known is None or known.place != "warehouse"):
        expect(_ok(r), False, s, r)  # no branch to file it under (the admin key has none)
    if not _ok(r):
        return False
    out = r.json()
    if number is not None and known is None and s.ticket:
        run.serials[number] = SerialM(s.part, number, "customer", None, "defective", rows=False)
    if known is not None:
        assert not known.loaner and (known.place == "customer" or (
            known.place, known.condition) == ("warehouse", "defective")), (s, known)  # fmt: skip
    run.rmas.append(RmaM(out["id"], s.part, number, 1 if number else s.qty, "authorised",
                         run.wh_index(out["warehouse_id"]), s.ticket))  # fmt: skip
    return True


def _rma_body(run: Run, action: str, wh: int | None, rma: RmaM) -> dict[str, Any]:
    if action == "receive":
        return {"warehouse_id": run.wh_id(wh)} if wh is not None else {}
    if action == "rejected":
        return {"note": "人为损坏 / damaged by the user"}
    if action == "replaced" and rma.serial is not None:
        return {"replacement_serial": run.fresh(rma.part, 1)[0]}
    if action == "send-to-vendor":
        return {"vendor": "华为技术有限公司"}
    return {}


def _rma_and_action(run: Run, s: RmaStep) -> tuple[RmaM, str] | None:
    """The RMA and the step: "next" takes an open RMA and one of its next steps."""
    if s.action != "next":
        return (run.rmas[s.pick % len(run.rmas)], s.action) if run.rmas else None
    going = [r for r in run.rmas if r.state in RMA_NEXT and r.state != "shipped_back"]
    if not going:
        return None
    rma = going[s.pick % len(going)]
    steps = [a for a in RMA_NEXT[rma.state] if a != "cancel"]
    return rma, steps[s.fork % len(steps)]


async def do_rma_step(run: Run, s: RmaStep) -> bool:
    found = _rma_and_action(run, s)
    if found is None:
        return False
    rma, action = found
    allowed = action in RMA_NEXT.get(rma.state, ())
    if action == "ship-back" and not rma.customer:
        allowed = False
    wh = s.wh
    if wh is None and s.action == "next":  # the workflow's receipt names where
        wh = rma.wh if rma.wh is not None else 0
    body = _rma_body(run, action, wh, rma)
    r = await run.call(f"/v1/rmas/{rma.id}/{action}", body)
    must: bool | None = None if allowed else False
    if allowed and action in ("close", "cancel"):
        must = True
    expect(_ok(r), must, (s, action), r)
    if not _ok(r):
        return False
    out = r.json()
    assert out["state"] == RMA_AFTER[action], (s, action, out)
    _rma_moves(run, rma, action, run.wh_index(out["warehouse_id"]), body)
    rma.state = RMA_AFTER[action]
    return True


def _rma_moves(run: Run, rma: RmaM, action: str, wh: int | None, body: dict[str, Any]) -> None:
    """What an RMA's step did to stock (app.parts.service.rma's docstring)."""
    serial = run.serials.get(rma.serial) if rma.serial else None
    if action == "receive":
        assert wh is not None
        rma.wh = wh
        if serial is not None and serial.place == "warehouse":
            assert (serial.wh, serial.condition) == (wh, "defective"), (rma, serial)
            return  # counted there already
        run.bal[(rma.part, wh)]["defective"] += rma.qty
        if rma.serial is not None:
            run.serials.setdefault(rma.serial, SerialM(rma.part, rma.serial, "customer"))
            run.serials[rma.serial].put("warehouse", wh, "defective")
        return
    if action in ("close", "cancel"):
        return
    assert rma.wh is not None
    key = (rma.part, rma.wh)
    if action == "send-to-vendor":
        run.bal[key]["defective"] -= rma.qty
        if serial:
            serial.put("vendor", condition="defective")
    elif action in ("repaired", "rejected"):
        bucket = "good" if action == "repaired" else "defective"
        run.bal[key]["on_hand" if bucket == "good" else "defective"] += rma.qty
        if serial:
            serial.put("warehouse", rma.wh, bucket)
    elif action == "replaced":
        run.bal[key]["on_hand"] += rma.qty
        if serial:
            serial.put("scrapped", condition="defective")
            new = body["replacement_serial"]
            rma.replacement = new
            run.serials[new] = SerialM(rma.part, new, "warehouse", rma.wh, "good", False)
    elif action == "ship-back":
        bucket = "defective" if rma.state == "rejected" else "good"
        run.bal[key]["defective" if bucket == "defective" else "on_hand"] -= rma.qty
        moving = rma.replacement if rma.state == "replaced" else rma.serial
        if moving:
            run.serials[moving].put("customer", condition=bucket)


async def do_pool(run: Run, s: Pool) -> bool:
    assert run.snap is not None
    if s.join:
        pool = run.free_good(s.part)
    else:
        pool = [x for x in run.of_part(s.part) if x.loaner and x.place == "warehouse"
                and x.condition == "good"]  # fmt: skip
    every = [x for x in run.of_part(s.part) if x.exists]
    got = run.pick_serials(pool, every, 1, s.pick, s.sane)
    if got is None:
        return False
    [x] = got
    body = {"serial_id": _serial_ids(run.snap)[x.number], "join": s.join}
    r = await run.call("/v1/loaner-pool", body)
    plausible = x in pool
    expect(_ok(r), True if plausible else None, s, r)
    if not _ok(r):
        return False
    out = r.json()
    if not out["changed"]:
        assert (x.place, x.loaner) == ("warehouse", s.join), (s, x, out)
        return True
    assert x.wh is not None
    take, put = ("on_hand", "loaners") if s.join else ("loaners", "on_hand")
    run.apply(s.part, {(x.wh, take): -1, (x.wh, put): 1})
    x.put("warehouse", x.wh, "good", loaner=s.join)
    return True


async def do_lend(run: Run, s: Lend) -> bool:
    assert run.snap is not None
    pool = [x for x in run.of_part(s.part) if x.loaner and x.place == "warehouse"
            and x.condition == "good"]  # fmt: skip
    every = [x for x in run.of_part(s.part) if x.exists]
    got = run.pick_serials(pool, every, 1, s.pick, s.sane)
    if got is None:
        return False
    [x] = got
    body = {"serial_id": _serial_ids(run.snap)[x.number], "ticket_id": run.bed.tickets[s.ticket],
            "due_back_on": run.due}  # fmt: skip
    r = await run.call("/v1/loans", body)
    expect(_ok(r), True if x in pool else None, s, r)
    if not _ok(r):
        return False
    if r.status_code == 200:  # the same lend again: the open loan answered
        assert any(ln.serial == x.number and ln.state == "out" and ln.ticket == s.ticket
                   for ln in run.loans), (s, r.json())  # fmt: skip
        return True
    assert x.wh is not None
    run.bal[(s.part, x.wh)]["loaners"] -= 1
    x.put("customer")
    run.loans.append(LoanM(r.json()["id"], x.number, s.ticket, run.due))
    return True


async def do_loan_end(run: Run, s: LoanEnd) -> bool:
    if not run.loans:
        return False
    loan = run.loans[s.pick % len(run.loans)]
    x = run.serials[loan.serial]
    if s.action.startswith("return"):
        condition = s.action.removeprefix("return-")
        path, body = "return", {"warehouse_id": run.wh_id(s.wh), "condition": condition}
    elif s.action == "sell":
        path, body = "sell", {"note": "客户购买 / bought"}
    else:
        path, body = "write-off", {"reason": "客户丢失 / lost"}
    r = await run.call(f"/v1/loans/{loan.id}/{path}", body)
    # A return brings the unit in (it must be out there); a sale or write-off moves none.
    must = loan.state == "out" and (path != "return" or x.place == "customer")
    expect(_ok(r), must, s, r)
    if not _ok(r):
        return False
    if path == "return":
        good = body["condition"] == "good"
        run.bal[(x.part, s.wh)]["loaners" if good else "defective"] += 1
        x.put("warehouse", s.wh, body["condition"], loaner=good)
        loan.state = "returned"
    elif path == "sell":
        x.put("customer", loaner=False)
        loan.state = "sold"
    else:
        x.put("scrapped", loaner=False)
        loan.state = "written_off"
    return True


HANDLERS: dict[type, Any] = {
    Receipt: do_receipt, Reserve: do_reserve, RequestStep: do_request_step, Return: do_return,
    Scrap: do_scrap, Adjust: do_adjust, Transfer: do_transfer,
    ReceiveTransfer: do_receive_transfer, Reverse: do_reverse, RmaCreate: do_rma_create,
    RmaStep: do_rma_step, Pool: do_pool, Lend: do_lend, LoanEnd: do_loan_end,
}  # fmt: skip


# --- reading the database back -----------------------------------------------------------


async def observe(run: Run) -> Snap:
    """The run's rows, and the checks on the whole database (`stock_check` and the
    constraints' conditions), in one transaction."""
    ids = [uuid.UUID(p) for p in run.parts]

    def s(v: Any) -> Any:
        return str(v) if isinstance(v, uuid.UUID) else v

    async with open_uow() as uow:

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            result = await uow.session.execute(text(sql), {"p": ids})
            return [tuple(s(v) for v in row) for row in result.all()]

        report = await stock_check(uow)
        assert report.ok, (report.differences, report.serials)
        [(bad,)] = await rows(
            "SELECT count(*) FROM stock_balances WHERE on_hand < 0 OR reserved < 0 OR "
            "defective < 0 OR in_transit < 0 OR loaners < 0 OR on_hand < reserved"
        )
        assert bad == 0, "a balance is negative or reserves more than is on hand"
        snap = Snap(
            balances={(r[0], r[1]): r[2:] for r in await rows(
                "SELECT part_id, warehouse_id, on_hand, reserved, defective, in_transit, "
                "loaners FROM stock_balances WHERE part_id = ANY(:p)")},
            serials={r[0]: r[1:] for r in await rows(
                "SELECT id, part_id, serial, place, warehouse_id, condition, loaner, version "
                "FROM part_serials WHERE part_id = ANY(:p)")},
            reservations={r[0]: r[1:] for r in await rows(
                "SELECT id, request_id, serial_id, warehouse_id, quantity, state "
                "FROM part_reservations WHERE part_id = ANY(:p)")},
            requests={r[0]: r[1:] for r in await rows(
                "SELECT id, state, version, quantity FROM part_requests WHERE part_id = ANY(:p)")},
            transfers=dict(await rows(  # type: ignore[arg-type]
                "SELECT id, state FROM stock_transfers WHERE part_id = ANY(:p)")),
            rmas={r[0]: r[1:] for r in await rows(
                "SELECT id, state, version, serial_id, warehouse_id FROM rmas "
                "WHERE part_id = ANY(:p)")},
            loans={r[0]: r[1:] for r in await rows(
                "SELECT id, serial_id, state FROM loans WHERE part_id = ANY(:p)")},
            movements=(await rows(
                "SELECT count(*) FROM stock_movements WHERE part_id = ANY(:p)"))[0][0],
        )  # fmt: skip
    return snap


def check_rows(snap: Snap) -> None:
    """What must hold between the rows of the run's parts."""
    serials = {sid: row for sid, row in snap.serials.items()}
    # A serialised part's balances are its serials counted by place.
    counted: Counter[tuple[str, str, str]] = Counter()
    for part_id, _, place, wh, condition, loaner, _ in serials.values():
        assert place in ("warehouse", "in_transit", "customer", "vendor", "scrapped")
        assert (wh is not None) == (place in ("warehouse", "in_transit")), (place, wh)
        if place == "warehouse":
            col = "defective" if condition == "defective" else "loaners" if loaner else "on_hand"
            counted[(part_id, wh, col)] += 1
        elif place == "in_transit":
            counted[(part_id, wh, "in_transit")] += 1
    serialised_parts = {row[0] for row in serials.values()}
    for (part_id, wh), b in snap.balances.items():
        if part_id in serialised_parts:
            for col in ("on_hand", "defective", "in_transit", "loaners"):
                assert b[COLS.index(col)] == counted.pop((part_id, wh, col), 0), (part_id, wh, col)
    assert not +counted, f"serials in stock without a balance: {counted}"
    active = [r for r in snap.reservations.values() if r[4] == "active"]
    held = Counter(r[1] for r in active if r[1])
    assert all(n == 1 for n in held.values()), f"a serial reserved twice: {held}"
    for _, serial_id, wh, _, _ in (r for r in active if r[1]):
        place = serials[serial_id]
        assert (place[2], place[3], place[4], place[5]) == ("warehouse", wh, "good", False), (
            "a reserved serial is not free good stock where it is reserved", place)  # fmt: skip
    out = Counter(serial_id for serial_id, state in snap.loans.values() if state == "out")
    assert all(n == 1 for n in out.values()), f"a serial out on two loans: {out}"
    # A lent unit is with the customer; a unit sent for repair is with the vendor (until
    # the loan or the RMA brings it back).
    for serial_id, state in snap.loans.values():
        assert state != "out" or serials[serial_id][2] == "customer", (
            "a serial out on loan is not at the customer", serials[serial_id])  # fmt: skip
    for state, _, serial_id, _ in snap.rmas.values():
        assert state != "in_repair" or serial_id is None or serials[serial_id][2] == "vendor", (
            "a serial in repair is not with the vendor", serials[serial_id])  # fmt: skip
    by_request: Counter[str] = Counter()
    for r in active:
        by_request[r[0]] += r[3]
    for rid, (state, _, quantity) in snap.requests.items():
        want = quantity if state in OPEN_REQUEST else 0
        assert by_request[rid] == want, (rid, state, by_request[rid], quantity)


def check_model(run: Run, snap: Snap) -> None:
    """The model against the database: every bucket, every serial's place."""
    for p, part_id in enumerate(run.parts):
        for w, wh_id in enumerate(run.bed.whs):
            db = snap.balances.get((part_id, wh_id), (0,) * 5)
            assert tuple(run.bal[(p, w)][c] for c in COLS) == db, (p, w, run.bal[(p, w)], db)
    assert {k[0] for k in snap.balances} <= set(run.parts)
    assert {k[1] for k in snap.balances} <= set(run.bed.whs), "stock in a warehouse not asked"
    seen = set()
    for _, number, place, wh, condition, loaner, _ in snap.serials.values():
        m = run.serials.get(number)
        assert m is not None and m.exists, f"serial {number} the model does not know"
        seen.add(number)
        got = (place, run.wh_index(wh), condition if place == "warehouse" else None, loaner)
        want = (m.place, m.wh, m.condition if m.place == "warehouse" else None, m.loaner)
        assert got == want, (number, "db", got, "model", want)
    assert seen == {n for n, m in run.serials.items() if m.exists}


async def check_api(run: Run, parts: set[int]) -> None:
    """The model against GET /v1/parts/{id}/stock of `parts`."""
    for p in sorted(parts):
        r = await run.client.get(f"/v1/parts/{run.parts[p]}/stock", headers=run.h)
        assert r.status_code == 200, r.text
        api = {w["warehouse_id"]: w for w in r.json()["warehouses"]}
        for w, wh_id in enumerate(run.bed.whs):
            m = run.bal[(p, w)]
            got = api.get(wh_id, {**_zero(), "available": 0})
            assert {c: got[c] for c in COLS} == m, (p, w, got, m)
            assert got["available"] == m["on_hand"] - m["reserved"]


async def run_steps(run: Run, steps: list[Any]) -> None:
    run.snap = await observe(run)
    for i, step in enumerate(steps):
        before, model_before = run.snap, {k: dict(v) for k, v in run.bal.items()}
        ok = await HANDLERS[type(step)](run, step)
        after = await observe(run)
        if not ok:
            assert after == before, (
                f"step {i} {step} was refused but changed: {_diff(before, after)}"
            )
        check_rows(after)
        run.snap = after
        check_model(run, after)
        # The API read of the parts the step moved, and of one more in turn (all of them
        # at the end): the same rows the database check above compared.
        moved = {k[0] for k, v in run.bal.items() if model_before.get(k, _zero()) != v}
        await check_api(run, moved | {i % len(run.parts)})
    await check_api(run, set(range(len(run.parts))))


def _diff(a: Snap, b: Snap) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Snap.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            out[name] = (
                (x, y)
                if not isinstance(x, dict)
                else {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
            )
    return out


async def new_run(client: httpx.AsyncClient, h: H, world: World, clock: Any) -> Run:
    bed = await _bed(client, h, world)
    parts = [(await make_part(client, h, serialised=s))["id"] for s in SERIALISED]
    due = (business_date(clock.now()) + timedelta(days=7)).isoformat()
    return Run(client, h, bed, parts, due)


# A start with stock in most places, so that the drawn steps have something to move.
SEED: list[Any] = [
    Receipt(0, 0, 3), Receipt(0, 1, 2), Receipt(1, 2, 3), Receipt(2, 0, 3), Receipt(2, 1, 1),
    Receipt(3, 1, 2), Receipt(3, 0, 1, loaner=True), Receipt(2, 2, 1, loaner=True),
    Reserve(0, None, 1, named=False, pick=0, sane=True),
    Reserve(2, None, 1, named=True, pick=0, sane=True),
    Return(3, 2, 1, "defective", fresh=True, pick=0),
]  # fmt: skip


@settings(max_examples=20, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])  # fmt: skip
@given(steps=st.lists(STEPS, min_size=12, max_size=25))
async def test_random_steps_keep_ledger_balances_serials_and_model_equal(
    client, admin, world, clock, steps
) -> None:
    run = await new_run(client, admin, world, clock)
    await run_steps(run, SEED + flat(steps))


# --- races -------------------------------------------------------------------------------


async def test_concurrent_reserve_transfer_and_scrap_of_few_units(
    client, admin, world, clock
) -> None:
    """16 operations at once on 5 units of one part in one warehouse: reservations on
    two tickets, transfers out, scrap. Each takes one unit, so exactly 5 are made and
    the other 11 refused (409), whatever the interleaving; then every invariant."""
    run = await new_run(client, admin, world, clock)
    await receive(client, admin, run.parts[0], run.wh_id(0), 5)
    part, a, b = run.parts[0], run.wh_id(0), run.wh_id(1)

    async def one(i: int) -> tuple[str, int]:
        if i % 3 == 0:
            kind, path = "reserve", f"/v1/tickets/{run.bed.tickets[i % 2]}/part-requests"
            body: dict[str, Any] = {"lines": [{"part_id": part, "warehouse_id": a}]}
        elif i % 3 == 1:
            kind, path = "transfer", "/v1/stock/transfers"
            body = {"part_id": part, "from_warehouse_id": a, "to_warehouse_id": b, "quantity": 1}
        else:
            kind, path = "scrap", "/v1/stock/scrap"
            body = {"part_id": part, "warehouse_id": a, "quantity": 1, "reason": "x"}
        r = await client.post(path, json=body, headers=admin)
        return kind, r.status_code

    done = await asyncio.gather(*(one(i) for i in range(16)))
    assert {code for _, code in done} <= {201, 409}, done
    made = Counter(kind for kind, code in done if code == 201)
    assert sum(made.values()) == 5, done
    snap = await observe(run)
    check_rows(snap)
    bal_a = snap.balances[(part, a)]
    assert bal_a[:2] == (5 - made["transfer"] - made["scrap"], made["reserve"]), (bal_a, made)
    assert snap.balances.get((part, b), (0, 0, 0, 0, 0))[3] == made["transfer"]


async def test_concurrent_claims_on_the_same_two_serials(client, admin, world, clock) -> None:
    """16 operations at once naming one of two serials: reservations naming it,
    transfers, scrap, pool joins. Each serial goes one way: exactly two are made."""
    run = await new_run(client, admin, world, clock)
    await receive(client, admin, run.parts[2], run.wh_id(0), 2, serials=["RA", "RB"])
    run.snap = await observe(run)
    ids = _serial_ids(run.snap)
    part, a, b = run.parts[2], run.wh_id(0), run.wh_id(1)

    async def one(i: int) -> tuple[int, bool]:
        serial = ("RA", "RB")[i % 2]
        kind = (i // 2) % 4
        if kind == 0:
            path = f"/v1/tickets/{run.bed.tickets[i % 2]}/part-requests"
            body: dict[str, Any] = {"lines": [{"part_id": part, "serials": [serial]}]}
        elif kind == 1:
            path = "/v1/stock/transfers"
            body = {"part_id": part, "from_warehouse_id": a, "to_warehouse_id": b,
                    "quantity": 1, "serials": [serial]}  # fmt: skip
        elif kind == 2:
            path = "/v1/stock/scrap"
            body = {"part_id": part, "warehouse_id": a, "quantity": 1, "serials": [serial],
                    "reason": "x"}  # fmt: skip
        else:
            path, body = "/v1/loaner-pool", {"serial_id": ids[serial], "join": True}
        r = await client.post(path, json=body, headers=admin)
        # A second join of a loaner answers 200 with changed false: nothing made.
        return r.status_code, r.status_code == 201 or (r.status_code == 200
                                                        and r.json()["changed"])  # fmt: skip

    done = await asyncio.gather(*(one(i) for i in range(16)))
    assert {code for code, _ in done} <= {200, 201, 409}, done
    assert sum(made for _, made in done) == 2, done
    snap = await observe(run)
    check_rows(snap)
    moved = [row for row in snap.serials.values()
             if (row[2], row[3], row[5]) != ("warehouse", a, False)]  # fmt: skip
    reserved = [r for r in snap.reservations.values() if r[4] == "active"]
    assert len(moved) + len(reserved) == 2, (snap.serials, reserved)


# --- bugs this test found, fixed: their minimal reproductions ----------------------------


async def _serial_id(client: httpx.AsyncClient, h: H, part_id: str, number: str) -> str:
    r = await client.get("/v1/serials", params={"serial": number, "part_id": part_id}, headers=h)
    assert r.status_code == 200, r.text
    return str(r.json()["items"][0]["id"])


async def _post(client: httpx.AsyncClient, h: H, path: str, **body: Any) -> httpx.Response:
    return await client.post(path, json=body, headers=h)


async def _lent(client: httpx.AsyncClient, h: H, run: Run, part: str, wh: str,
                number: str) -> str:  # fmt: skip
    """`number` (in good stock of `wh`) put into the loaner pool and lent on ticket 0."""
    sid = await _serial_id(client, h, part, number)
    r = await _post(client, h, "/v1/loaner-pool", serial_id=sid, join=True)
    assert r.status_code == 200 and r.json()["changed"], r.text
    r = await _post(client, h, "/v1/loans", serial_id=sid, ticket_id=run.bed.tickets[0],
                    due_back_on=run.due)  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_reversal_does_not_pull_back_a_serial_that_moved_on(client, admin, world,
                                                                   clock) -> None:  # fmt: skip
    """Serial X scrapped, brought back (a good return), pooled and lent to a customer;
    then the old scrap is reversed. Expected: 409, X has moved on since the scrap (the
    reversal puts it "back where it was before the row" only if it is still where the
    row left it). Actual: 201; X is in the warehouse's good stock (on_hand +1) while
    still flagged a loaner and still out on its open loan, whose return now answers 409
    "in stock already"; the balance's loaners and on_hand no longer match the serials."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[2], run.wh_id(0)
    await receive(client, admin, part, a, 1, serials=["X1"])
    r = await _post(client, admin, "/v1/stock/scrap", part_id=part, warehouse_id=a, quantity=1,
                    serials=["X1"], reason="损坏")  # fmt: skip
    scrap = r.json()["batch_id"]
    r = await _post(client, admin, "/v1/stock/returns", part_id=part, warehouse_id=a, quantity=1,
                    condition="good", serials=["X1"])  # fmt: skip
    assert r.status_code == 201, r.text
    await _lent(client, admin, run, part, a, "X1")
    r = await _post(client, admin, f"/v1/stock/postings/{scrap}/reversal", reason="录入错误")
    assert r.status_code == 409, r.text


async def test_a_lent_serial_is_not_brought_into_stock_by_hand(client, admin, world,
                                                                clock) -> None:  # fmt: skip
    """A loaner lent to a customer, then POST /v1/stock/returns (good) of its serial.
    Expected: 409 (it is out on a loan: it comes back through POST /v1/loans/{id}/return).
    Actual: 201; the serial is ordinary good stock (loaner false) while the loan stays
    'out', and the loan's return answers 409 "Serial ... is in stock already". The same
    holds for a receipt or a positive adjustment naming the serial."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[2], run.wh_id(0)
    await receive(client, admin, part, a, 1, serials=["L1"])
    loan = await _lent(client, admin, run, part, a, "L1")
    r = await _post(client, admin, "/v1/stock/returns", part_id=part, warehouse_id=a, quantity=1,
                    condition="good", serials=["L1"])  # fmt: skip
    returned = await _post(client, admin, f"/v1/loans/{loan}/return", warehouse_id=a,
                           condition="good")  # fmt: skip
    assert (r.status_code, returned.status_code) == (409, 200), (r.text, returned.text)


async def test_a_vendor_serial_is_not_brought_into_stock_by_hand(client, admin, world,
                                                                 clock) -> None:  # fmt: skip
    """An RMA of serial R2 received and sent to the vendor, then POST /v1/stock/receipts
    naming R2. Expected: 409 (it is in repair: it comes back through the RMA). Actual:
    201; R2 is good stock and the RMA's repaired, replaced and rejected all answer 409
    "Serial R2 is no longer with the vendor": the RMA is stuck in in_repair."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[2], run.wh_id(0)
    r = await _post(client, admin, "/v1/rmas", part_id=part, serial="R2", reason="返厂",
                    ticket_id=run.bed.tickets[0])  # fmt: skip
    rma = r.json()["id"]
    for step, body in (("receive", {"warehouse_id": a}), ("send-to-vendor", {"vendor": "华为"})):
        r = await _post(client, admin, f"/v1/rmas/{rma}/{step}", **body)
        assert r.status_code == 200, r.text
    r = await _post(client, admin, "/v1/stock/receipts", part_id=part, warehouse_id=a,
                    quantity=1, serials=["R2"])  # fmt: skip
    repaired = await _post(client, admin, f"/v1/rmas/{rma}/repaired")
    assert (r.status_code, repaired.status_code) == (409, 200), (r.text, repaired.text)


async def test_an_rma_receipt_is_not_reversed_by_hand(client, admin, world, clock) -> None:
    """An RMA of a part (quantity 1) received into A, then its posting (the batch_id in
    its history) reversed. Expected: 409 like any workflow's posting (REVERSIBLE: "an
    RMA's step is undone by that workflow's own next step, not by a reversal"). Actual:
    201; the RMA stays 'received' with nothing in stock, and send-to-vendor answers 409
    "1 defective unit(s) asked for, 0 in warehouse"."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[0], run.wh_id(0)
    r = await _post(client, admin, "/v1/rmas", part_id=part, quantity=1, reason="返厂",
                    warehouse_id=a)  # fmt: skip
    rma = r.json()["id"]
    r = await _post(client, admin, f"/v1/rmas/{rma}/receive")
    batch = r.json()["history"][-1]["data"]["batch_id"]
    r = await _post(client, admin, f"/v1/stock/postings/{batch}/reversal", reason="录入错误")
    assert r.status_code == 409, r.text


async def test_a_requests_defective_return_is_not_reversed_by_hand(client, admin, world,
                                                                   clock) -> None:  # fmt: skip
    """A request fitted, its defective part returned (the request closed, returned_at
    set); then that return_defective posting reversed. Expected: 409 (a request's step).
    Actual: 201; the request still says the part came back, the stock says it did not."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[0], run.wh_id(0)
    await receive(client, admin, part, a, 1)
    ticket = run.bed.tickets[0]
    r = await _post(client, admin, f"/v1/tickets/{ticket}/part-requests",
                    lines=[{"part_id": part, "warehouse_id": a}])  # fmt: skip
    req = r.json()["items"][0]["id"]
    for step, body in (("dispatch", {}), ("fit", {}), ("defective-return", {"warehouse_id": a})):
        r = await _post(client, admin, f"/v1/part-requests/{req}/{step}", **body)
        assert r.status_code == 200, r.text
    r = await client.get("/v1/stock/movements", params={"ticket_id": ticket,
                         "kind": "return_defective"}, headers=admin)  # fmt: skip
    [row] = [m for m in r.json()["items"] if m["request_id"] == req]
    r = await _post(client, admin, f"/v1/stock/postings/{row['batch_id']}/reversal",
                    reason="录入错误")  # fmt: skip
    assert r.status_code == 409, r.text


async def test_an_rma_of_a_warehouse_serial_takes_its_warehouses_branch(
    client, admin, world, clock
) -> None:
    """POST /v1/rmas {part_id, serial} for a serial in a warehouse's defective stock, by
    an unscoped key, without ticket_id or warehouse_id. The RMA takes the serial's
    warehouse as its own (rma.warehouse_id), so `_branch` ("else the warehouse's") has
    it. Expected: 201 in that warehouse's branch. Actual: 422 "Name a ticket or the
    warehouse_id it will be received in" (_branch looks only at the body's warehouse)."""
    run = await new_run(client, admin, world, clock)
    part, a = run.parts[2], run.wh_id(0)
    r = await _post(client, admin, "/v1/stock/returns", part_id=part, warehouse_id=a, quantity=1,
                    condition="defective", serials=["D1"])  # fmt: skip
    assert r.status_code == 201, r.text
    r = await _post(client, admin, "/v1/rmas", part_id=part, serial="D1", reason="返厂")
    assert r.status_code == 201, r.text
    assert r.json()["warehouse_id"] == a and r.json()["branch_id"] == str(world.branch_id)
