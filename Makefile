# energy_assets: `make run` sets everything up and materializes the graph; `make test` tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export ENERGY_HOME ?= $(CURDIR)/.energy
export DAGSTER_HOME ?= $(ENERGY_HOME)/dagster
START ?= 2024-01-01
DAYS ?= 7
END = $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")

.PHONY: install run land checks dev defs dashboard bench realism test lint serve stop clean doctor dagster-home

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'energy_assets needs Python 3.11 or newer.')"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@# Spark's classes archived for a warm JVM start (about a minute, once; see jvm_archive.py).
	@$(VENV)/bin/python -m energy_assets.storage.jvm_archive 2>/dev/null \
		|| echo "energy_assets: no Spark class archive was written; Spark starts slower."
	@# Computed Spark frames COPYed from the JVM, where a JDK and PostgreSQL's JDBC driver
	@# (Debian: libpostgresql-jdbc-java) are; else they go through Arrow (see jvm_copy.py).
	@$(VENV)/bin/python -m energy_assets.storage.jvm_copy \
		|| echo "energy_assets: the JVM COPY was not built; loads use Arrow."
	@touch $@

install: $(VENV)/.installed

doctor: install
	@$(PY) -m energy_assets.doctor

dagster-home: install
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

RUN_LOG = $(ENERGY_HOME)/last-run.log
## Runs attach to a warm Spark driver JVM (`make serve`), which the first run starts and
## warms (about a minute, once; reported apart, as PostgreSQL's start is). SPARK_SERVER=0
## starts none (a run attaches to one that runs; `make stop` stops it).
SPARK_SERVER ?= 1
SERVE = $(if $(filter 1,$(SPARK_SERVER)),serve,)
CHECKS_END = $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=2))")

## Materialize every asset for DAYS simulated days from START, as one run, then summarise
## that run (named by the id in its log), whether it succeeded or not.
run: doctor dagster-home $(SERVE)
	@set -o pipefail; $(VENV)/bin/dagster asset materialize \
		-m energy_assets.definitions --select '*' --partition-range $(START)...$(END) \
		2>&1 | tee $(RUN_LOG); status=$$?; \
	$(PY) -m energy_assets.summary --run-log $(RUN_LOG); \
	exit $$status

## Land files: admit what ENERGY_LANDING_DIR holds, rebuild the days it touches (the whole
## graph, one run a stretch of days), move the files on; then summarise (docs/real-data.md).
land: export ENERGY_SOURCE := landing
land: doctor dagster-home
	@set -o pipefail; $(PY) -m energy_assets.land 2>&1 | tee $(RUN_LOG); status=$$?; \
	$(PY) -m energy_assets.summary --run-log $(RUN_LOG); \
	exit $$status

## Asset checks gate a change: the whole graph for 3 days; any failed ERROR check fails this.
checks: doctor dagster-home $(SERVE)
	@set -o pipefail; $(VENV)/bin/dagster asset materialize \
		-m energy_assets.definitions --select '*' --partition-range $(START)...$(CHECKS_END) \
		2>&1 | tee $(RUN_LOG); status=$$?; \
	$(PY) -m energy_assets.summary --run-log $(RUN_LOG) \
		--fail-on-error && exit $$status

## The Dagster UI and its daemon on 127.0.0.1:3000, over the same database.
dev: doctor dagster-home
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Dagster's own checks of the definitions (CI runs this first).
defs: install
	$(VENV)/bin/dg check defs

## The Streamlit dashboard over the warehouse on 127.0.0.1:8501 (after `make run`).
dashboard: install
	$(VENV)/bin/streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port 8501 \
		--server.headless true --browser.gatherUsageStats false

## How real the simulated homes look, beside CREST homes and BDEW H0 (installs their packages).
realism: install
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) benchmarks/realism.py

## Every stage of the small (make run's default), medium (2.9M readings) and large (14.4M)
## runs beside its peers, or of one size (HOUSES=...); writes benchmarks/RESULTS.md.
INTERVAL ?= 15
BENCH_DAYS ?= 2
BENCH_START ?= 2024-07-01
bench: doctor
ifdef HOUSES
	$(PY) benchmarks/pipeline.py --houses $(HOUSES) --interval $(INTERVAL) --days $(BENCH_DAYS) \
		--start $(BENCH_START) $(if $(JDBC),--jdbc,)
else
	$(PY) benchmarks/pipeline.py --sizes small medium large $(if $(JDBC),--jdbc,)
endif

test: doctor
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

## A warm Spark driver JVM that later runs attach to, one at a time (spark_server.py); when it
## cannot start, runs start their own.
serve: doctor
	@$(PY) -m energy_assets.storage.spark_server start \
		|| echo "energy_assets: no Spark server; the run starts a Spark JVM of its own."

## Stop the embedded PostgreSQL server and the Spark server.
stop:
	@if [ -x $(PY) ]; then $(PY) -W ignore -m energy_assets.storage.spark_server stop; fi
	@if [ -x $(PY) ]; then $(PY) -W ignore -m energy_assets.storage.embedded stop; fi

clean: stop
	rm -rf data .energy
