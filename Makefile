# The project's entry points. Each target sets up what it needs on a fresh machine:
# a .venv with the package and its test extra, and (for the tests) the JavaScript peer.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JS := tests/js
HOST ?= 127.0.0.1
PORT ?= 8000

# The tests start a few hundred Python processes, and a CI environment may forbid them to
# write bytecode (PYTHONDONTWRITEBYTECODE): then every one of them compiles what it imports,
# and every pytest process (each -n worker, the plugin's runs) rewrites the asserts of all
# test modules again: 12.8 s of CPU per collection, against 5.4 s with pytest's cache.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo conformance test ci-load serve docs bench clean

# uv installs the ninety-odd packages in parallel: about 20 s on a fresh machine, where pip
# took 107 s (measured on this project's 2-core CI machine). Should uv fail (no wheel for
# the platform, an index only pip's configuration names), pip does the same install.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.9,<1'
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[test]' \
	  || $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

$(JS)/node_modules/.package-lock.json: $(JS)/package.json $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error

## demo: the main job on the embedded store: the reference server and a one-minute mixed load
demo: $(STAMP)
	$(BIN)/harness demo --users 300 --duration 60s

## conformance: every conformance check against the reference server (embedded store)
conformance: $(STAMP)
	$(BIN)/harness demo --conformance

## ci-load: a short load against the reference server with the default thresholds (CI's gate)
ci-load: $(STAMP)
	$(BIN)/harness demo --users 100 --duration 30s

## serve: the reference server alone, in --dev mode
serve: $(STAMP)
	@echo "Try: curl http://$(HOST):$(PORT)/health"
	$(BIN)/harness serve --dev --host $(HOST) --port $(PORT) --password-cost 4

## test: the whole test suite (CI runs exactly this through .ci/run): ruff and mypy --strict
## on harness/ and reference_server/ (configured in pyproject.toml); then every module not marked
## `alone`, four at a time (most of their time is spent waiting on servers); then the load
## runs marked `alone` one at a time, with the machine to themselves
TEST_WORKERS ?= 4
test: $(STAMP) $(JS)/node_modules/.package-lock.json
	$(BIN)/python -m compileall -q harness reference_server scenarios tests > /dev/null
	$(BIN)/ruff check harness reference_server && $(BIN)/mypy; lint=$$?; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not alone"; shared=$$?; \
	$(BIN)/python -m pytest -m alone; alone=$$?; \
	test $$lint -eq 0 -a $$shared -eq 0 -a $$alone -eq 0

## docs: regenerate docs/ from the machine-readable contract
docs: $(STAMP)
	$(BIN)/harness contract export --out docs

## bench: the server benchmarks (figures, not pass/fail)
bench: $(STAMP)
	$(BIN)/python benchmarks/store_lookup.py
	$(BIN)/python benchmarks/server_throughput.py

clean:
	rm -rf $(VENV) $(JS)/node_modules
