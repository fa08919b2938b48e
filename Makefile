# Two commands matter: `make run` (the whole dev stack) and `make test` (the whole suite).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck bench migrate clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-packages.sh
	@command -v $(PY) >/dev/null 2>&1 || { echo "python3.11 is required"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	bash scripts/install-system-packages.sh
	@touch $(STAMP)

run: install
	$(BIN)/penguinmails dev

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy penguinmails workflows activities api worker.py

bench: install
	@for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

migrate: install
	$(BIN)/penguinmails migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
