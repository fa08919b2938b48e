# Two commands matter: `make run` (the whole dev stack) and `make test` (the whole suite).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fuzz check lint imports typecheck bench migrate clean

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

test: install imports
	$(BIN)/python -m pytest -q

# The fuzzer over the whole OpenAPI document (tests/api/test_fuzz.py) for FUZZ_SECONDS, rate
# limits lifted; prints the counts and fails on any finding. FUZZ_ONLY=<part of an operation>
# narrows it, FUZZ_PENDING=1 includes the operations still listed as pending.
FUZZ_SECONDS ?= 600
fuzz: install
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest tests/api/test_fuzz.py -q -s -p no:cacheprovider

# DESIGN.md's import direction (contracts in pyproject.toml): a violation fails the build.
imports: install
	$(BIN)/lint-imports --no-cache

# Everything static: style, formatting, import contracts, types. CI runs it before the tests.
check: lint typecheck

lint: install imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy penguinmails usecases workflows activities api cli devstack worker.py

bench: install
	@for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

migrate: install
	$(BIN)/penguinmails migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
