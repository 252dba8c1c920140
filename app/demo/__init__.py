"""Demo data for `make run` / `supportline demo`: a Chinese support centre.

`load_demo()` runs a list of loader steps in one transaction, once: the marker is the
API key named "demo admin". Each step takes the unit of work and a `DemoContext` and
adds what it needs (later steps see what earlier ones made through the context). The
plain API keys issued are written to DATA_DIR/demo-keys.txt and printed, so scripts
(and the CI smoke test) can read them.

To add demo records: put the literal records in `app.demo.data`, write
`async def step_xxx(uow, ctx) -> None` using the domain services (lookups by natural key
through their repositories, never raw SQL) and append it to `app.demo.loader.STEPS` in
dependency order.

Modules: `data` (the records, zh-CN and English), `context` (what the steps share),
`keys`, `archive`, `parts` and `tickets` (the steps), `repository` (the loader's own queries),
`loader` (STEPS and `load_demo`).

What is loaded: the default catalogue; four branches (SH, BJ, GZ, CD); one key per role
(two SH engineers, one engineer in each other branch, two integrations); eight customers
(a bank, a metro, hospitals, universities, a power grid, a foreign-invested plant with
an English-speaking contact); 23 devices; seven contracts (7x24 for the bank and the
grid, 5x8 for others, one expired, one suspended); sixteen tickets in every status,
registered and worked through the ticket service by the people whose keys are issued;
six engineer profiles with work e-mail and mobile; one open major incident (the grid's
two tickets) with status updates; spare parts: six warehouses (central, regional, two
branch stores, two customer-site depots under contract), seven parts (serialised boards
and SSDs, a discontinued power module and its substitute, a loaner switch), receipts,
transfers (one in transit) and reorder levels; three part requests in the stories (one
closed with its defective board returned, one fitted awaiting the old part, one
dispatched and still in flight), an RMA in repair at the vendor and a loaner out; after
care: the resolved stories' callbacks (scheduled by their resolution), a contact plan for
the bank and an answered satisfaction survey.

Ticket stories are dated in the past (hours to days before the load) by pinning the
injected clock to each step's moment while the services run, so timelines, first
responses and visits read like real work; the clock is restored afterwards. Archive
records are looked up by their natural keys (codes, serials, contract numbers) before
being created, so `--force` adds new keys and tickets without tripping on them.
"""

from app.demo.context import KEYS_FILE, MARKER_KEY_NAME, DemoContext, DemoKey, Step
from app.demo.keys import keys_path
from app.demo.loader import STEPS, load_demo

__all__ = [
    "KEYS_FILE",
    "MARKER_KEY_NAME",
    "STEPS",
    "DemoContext",
    "DemoKey",
    "Step",
    "keys_path",
    "load_demo",
]
