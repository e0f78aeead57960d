# Two commands set everything up on a fresh machine with Python 3.11+:
#   make demo   creates .venv, installs fcompile (base install, no extras), creates the sample project, seeds
#               it, checks, lists, builds and tests it, runs it (its training dataset, then the online store),
#               profiles a view (then again, checking its drift from the first profile), makes an ad-hoc
#               training set, checks a view's online values against a training set's (skew), reads the
#               online store as of now, and writes its catalog site
#   make test   installs the dev extras, the BigQuery emulator, TFDV, Feast and (where missing) Debian's chromium
#               and chromium-driver for the catalog's browser tests, and runs the whole test suite
PYTHON ?= python3
# `make demo VENV=.venv-demo` keeps a base-only install apart from the dev one (.ci/run does so).
VENV   ?= .venv
BIN    := $(VENV)/bin
# The BigQuery emulator the engine tests start (tests/engines/bigquery_emulator.py): a server process in a
# virtualenv of its own, as its sqlglot pin is not ours. It loads DuckDB's spatial and avro extensions at
# start; they are installed from their PyPI wheels into the emulator's private HOME (else DuckDB would
# download them, and without spatial the emulator does not start).
BQEMU  := .venv-bqemu
BQEMU_PACKAGES := bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 duckdb-extension-avro==1.5.5 \
                  numpy==2.4.6
# TensorFlow Data Validation, which tests/data_tests/test_profile_tfdv.py runs on the profiles fcompile writes:
# a virtualenv of its own, as TFDV pins its own tensorflow and protobuf. pip's resolver backtracks for a long
# time over TFDV's dependencies (apache-beam[gcp] and tensorflow's), so uv (a PyPI package) resolves them;
# apache-beam no longer requires dill, which TFDV's tfx-bsl imports.
TFDV   := .venv-tfdv
TFDV_PACKAGES := tensorflow-data-validation==1.16.1 dill
# Feast itself, whose remote online store client tests/serving/test_on_demand_online.py points at `fcompile
# serve` (request fields beside the join keys): a virtualenv of its own, as no code of ours imports Feast.
FEAST  := .venv-feast
FEAST_PACKAGES := feast==0.67.0
DEMO   := .demo/driver_ranking
# `make test` runs the suite in this many processes (pytest-xdist). Most of a test's time is spent waiting
# for an engine (Spark, PostgreSQL, the BigQuery emulator, a server under test), so two workers keep two
# cores busy; each worker starts its own Spark session and emulator.
TEST_WORKERS ?= 2

.PHONY: demo test bench clean browser

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fcompile needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# PYTHONWARNINGS=ignore: setuptools warns on every editable install of a package that is not in a src/
# folder (a box of asterisks in a newcomer's first output); the install is right, the warning is noise.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

$(BQEMU)/.installed: Makefile
	@$(PYTHON) -m venv $(BQEMU)
	@$(BQEMU)/bin/python -m pip install --quiet --disable-pip-version-check $(BQEMU_PACKAGES)
	@mkdir -p $(BQEMU)/home
	@for name in spatial avro; do HOME=$(CURDIR)/$(BQEMU)/home $(BQEMU)/bin/python -c 'import duckdb, importlib, pathlib, sys; \
	    name = sys.argv[1]; wheel = pathlib.Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent; \
	    duckdb.connect().install_extension(str(next(wheel.rglob(f"{name}.duckdb_extension"))))' $$name || exit 1; done
	@touch $@

$(TFDV)/.installed: Makefile
	@$(PYTHON) -m venv $(TFDV)
	@$(TFDV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	@$(TFDV)/bin/uv pip install --quiet --python $(TFDV)/bin/python $(TFDV_PACKAGES)
	@touch $@

# The catalog's browser tests (tests/catalog/) drive Debian's headless Chromium through chromedriver. Installed
# with apt-get where missing (as root, else through sudo without a password); when that fails the tests skip
# and say why.
BROWSER_PACKAGES := chromium chromium-driver
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; else \
	  sudo=$$(test "$$(id -u)" = 0 || echo "sudo -n"); \
	  { $$sudo apt-get install -y -qq $(BROWSER_PACKAGES) || { $$sudo apt-get update -qq && \
	    $$sudo apt-get install -y -qq $(BROWSER_PACKAGES); }; } >/dev/null 2>&1 \
	  || echo "note: chromium could not be installed with apt-get: the catalog's browser tests will skip"; fi

$(FEAST)/.installed: Makefile
	@$(PYTHON) -m venv $(FEAST)
	@$(FEAST)/bin/python -m pip install --quiet --disable-pip-version-check uv
	@$(FEAST)/bin/uv pip install --quiet --python $(FEAST)/bin/python $(FEAST_PACKAGES)
	@touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/fcompile init $(DEMO)  # the sample, its data ending now
	$(BIN)/fcompile seed --project-dir $(DEMO)  # seeds/*.parquet -> the DuckDB tables its sources read
	$(BIN)/fcompile debug --project-dir $(DEMO)
	$(BIN)/fcompile validate --project-dir $(DEMO)
	$(BIN)/fcompile ls --project-dir $(DEMO)
	$(BIN)/fcompile build --project-dir $(DEMO) --dialect all  # SQL for all seven dialects under target/compiled/
	$(BIN)/fcompile compile --service driver_activity_v1 --project-dir $(DEMO)
	$(BIN)/fcompile test --project-dir $(DEMO)  # the sample's data tests, on the DuckDB tables
	$(BIN)/fcompile run --project-dir $(DEMO)  # the training-set dataset, then the online store
	$(BIN)/fcompile profile --project-dir $(DEMO) --select driver_hourly_stats  # statistics as TFDV protos
	$(BIN)/fcompile profile --project-dir $(DEMO) --select driver_hourly_stats \
	    --compare feature_view:driver_hourly_stats  # drift from the profile before, checked against the view's drift:
	$(BIN)/fcompile get-historical-features --project-dir $(DEMO) --spine orders \
	    --service driver_activity_v1 --output $(DEMO)/target/training.parquet
	$(BIN)/fcompile materialize --project-dir $(DEMO)  # incremental: nothing new since run
	$(BIN)/fcompile profile --online --view driver_hourly_stats --project-dir $(DEMO)  # skew: online against offline
	$(BIN)/fcompile get-online-features --project-dir $(DEMO) --service driver_ranking_v2 --require-present \
	    -e driver_id=1001 -e customer_id=C00000001  # read as of now: fails unless every value is PRESENT
	$(BIN)/fcompile get-online-features --project-dir $(DEMO) --features order_features:amount_per_trip \
	    --features order_features:big_order,order_features:conv_band,order_features:night --require-present \
	    -e driver_id=1001 -e order_amount=25.0 -e order_hour=23  # on-demand: computed from the request's fields
	$(BIN)/fcompile docs generate --project-dir $(DEMO)  # the catalog site: prints the page to open

test: $(VENV)/.installed-dev $(BQEMU)/.installed $(TFDV)/.installed $(FEAST)/.installed browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m slow || test $$? -eq 5  # 5: no slow test selected
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/build_bench.py
	$(BIN)/python bench/pit_bench.py
	$(BIN)/python bench/aggregation_bench.py
	$(BIN)/python bench/profile_bench.py
	$(BIN)/python bench/skew_bench.py
	$(BIN)/python bench/spark_bench.py
	$(BIN)/python bench/online_bench.py
	$(BIN)/python bench/materialize_bench.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/command_bench.py

clean:
	rm -rf $(VENV) .venv-demo $(BQEMU) $(TFDV) $(FEAST) .demo .pytest_cache .hypothesis
