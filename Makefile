# The two commands that matter (README): `make demo` and `make test`.
# Both create the virtual environment from the lock (constraints.txt) if missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SLEDS_HOME ?= $(CURDIR)/.sleds
export DAGSTER_HOME := $(SLEDS_HOME)/dagster

.PHONY: demo test ui env lint fmt bench lock clean browser

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (Python 3.11) on PATH, or make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

env: $(STAMP)

## demo: generate the demo feeds and materialize every asset on the embedded DuckDB
demo: $(STAMP)
	$(BIN)/sleds generate --scale demo --seed 42 --out $(SLEDS_HOME)/demo
	SLEDS_LANDING=$(SLEDS_HOME)/demo/landing $(BIN)/sleds build

## test: the whole suite (unit, integration on the tiny data set, end-to-end demo)
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# the governance report is checked in headless Chromium and its PDF read back with poppler
# (pdftoppm, pdftotext), both Debian packages; without them (no apt-get, not root) those
# tests are skipped with their reason
browser:
	@{ command -v chromium && command -v pdftoppm && command -v pdftotext; } >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  { apt-get install -y -qq chromium poppler-utils >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
	    apt-get install -y -qq chromium poppler-utils >/dev/null 2>&1; }; }; } || \
	  echo "chromium or poppler-utils is not installed: the governance report's browser and PDF tests will be skipped"

## ui: the Dagster UI on the same definitions and instance as `sleds build`
ui: $(STAMP)
	@$(BIN)/python -c "from pathlib import Path; from orchestration.lib.dagster_home import ensure_dagster_home; ensure_dagster_home(Path('$(SLEDS_HOME)'))"
	$(BIN)/dagster dev -w workspace.yaml

## bench: time every stage and print the budget lines (SCALE=demo by default; SCALE=tenth, a
## small state, and SCALE=state, ~1M students a year, by hand; BENCH_ARGS="--disclosure-cells 100000")
SCALE ?= demo
bench: $(STAMP)
	$(BIN)/python -m tools.bench run --scale $(SCALE) $(if $(FEEDS),--feeds $(FEEDS)) $(BENCH_ARGS)

## codegen: render the dbt staging models and sources from seeds/feed_layouts.csv
.PHONY: codegen
codegen: $(STAMP)
	$(BIN)/python -m tools.dbt_codegen

## suites: render the code lists in expectations/*.json from seeds/code_sets.csv (after editing a code set)
.PHONY: suites
suites: $(STAMP)
	$(BIN)/python -m tools.gx_suites

## lint: Python lint and format check (ruff), SQL style of the dbt models (sqlfluff, .sqlfluff)
lint: $(STAMP)
	$(BIN)/ruff check orchestration tests tools
	$(BIN)/ruff format --check orchestration tests tools
	$(BIN)/sqlfluff lint dbt_project/models

## fmt: rewrite what `make lint` can fix by itself (ruff format, sqlfluff fix)
fmt: $(STAMP)
	$(BIN)/ruff format orchestration tests tools
	$(BIN)/sqlfluff fix dbt_project/models

## lock: re-resolve dependencies and rewrite constraints.txt
lock:
	rm -rf /tmp/sleds-lock && $(PYTHON) -m venv /tmp/sleds-lock
	/tmp/sleds-lock/bin/pip install --quiet --upgrade pip
	/tmp/sleds-lock/bin/pip install --quiet -e '.[dev]'
	( echo "# Exact versions of every dependency (the lock). Regenerate with 'make lock'."; \
	  /tmp/sleds-lock/bin/pip freeze --exclude-editable ) > constraints.txt

clean:
	rm -rf $(SLEDS_HOME) dbt_project/target dbt_project/logs
