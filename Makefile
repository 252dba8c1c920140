# Supportline: `make run` starts everything, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format typecheck contracts openapi openapi-check openapi-lint migrate revision bench-create bench-seed bench-list clean smoke ci

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/supportline dev

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

# The architecture contracts in pyproject.toml ([tool.importlinter]).
contracts: $(STAMP)
	$(BIN)/lint-imports

openapi: $(STAMP)
	$(BIN)/supportline openapi > openapi/openapi.json

openapi-check: $(STAMP)
	$(BIN)/supportline openapi --check openapi/openapi.json

# The committed spec against the ruleset in .redocly.yaml (Redocly CLI from npm, pinned;
# needs Node.js and the npm registry, or the package in npm's cache).
REDOCLY_CLI ?= @redocly/cli@2.77.0
openapi-lint:
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		npx --yes $(REDOCLY_CLI) lint openapi/openapi.json --config .redocly.yaml

smoke: $(STAMP)
	bash .ci/smoke.sh

ci:
	bash .ci/run

migrate: $(STAMP)
	$(BIN)/supportline migrate

revision: $(STAMP)
	$(BIN)/alembic revision --autogenerate -m "$(m)"

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

# --- Benchmarks (bench/README.md): figures are printed, never asserted. Needs wrk
# (apt-get install -y wrk), PostgreSQL and Redis; each creates its own database.
BENCH_DURATION ?= 15
BENCH_COUNT ?= 1000000
BENCH_CONCURRENCY ?= 32
.PHONY: bench bench-floor bench-profile-create bench-profile-list

bench-create: $(STAMP)
	bench/ticket_create --duration $(BENCH_DURATION) --concurrency $(BENCH_CONCURRENCY)

bench-seed: $(STAMP)
	bench/seed --count $(BENCH_COUNT)

bench-list: $(STAMP)
	bench/ticket_list --duration $(BENCH_DURATION) --concurrency $(BENCH_CONCURRENCY) --explain

bench-floor: $(STAMP)
	$(BIN)/python -m bench.db_floor --fresh --duration $(BENCH_DURATION)

bench-profile-create: $(STAMP)
	$(BIN)/pip install --quiet py-spy
	bench/profile create

bench-profile-list: $(STAMP)
	$(BIN)/pip install --quiet py-spy
	bench/profile list

bench: bench-create bench-seed bench-list
