# Supportline: `make run` starts everything, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format typecheck openapi openapi-check migrate revision bench-create bench-seed bench-list clean smoke ci

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

openapi: $(STAMP)
	$(BIN)/supportline openapi > openapi/openapi.json

openapi-check: $(STAMP)
	$(BIN)/supportline openapi --check openapi/openapi.json

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
