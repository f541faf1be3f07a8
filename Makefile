# Everything a user runs. `make reproduce` and `make test` do all set-up on a
# fresh machine: virtual environment, the CPU build of torch when none is
# present, the package, and the Fashion-MNIST data.

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
HARNESS     := $(BIN)/harness
STAMP       := $(VENV)/.installed
# A plain `torch` requirement would pull a multi-GB CUDA build; install the CPU
# build first. Elsewhere, e.g.: make setup TORCH_PIP="torch --index-url <the CPU wheel index>"
TORCH_PIP   ?= torch==2.13.0
BUDGET      ?= standard
WORKERS     ?=
STORAGE     ?= .harness/optuna.journal
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
# the registry's names, for `make help` (`harness list` imports no torch: instant)
STUDIES      = $(shell test -x $(HARNESS) && $(HARNESS) list studies 2>/dev/null | sed -n 's/^  \([a-z0-9-]*\) .*/\1/p')

.PHONY: help setup data test check faults reproduce report verify-reports ui bench services services-down dashboard clean FORCE

help:
	@echo "make reproduce     set up, run every study at BUDGET=$(BUDGET), write reports/"
	@echo "make test          set up, run the complete test suite (what CI runs)"
	@echo "make check         the fast tests only (no end-to-end runs, subprocesses or services), for everyday work"
	@echo "make study-NAME    one study ($(or $(STUDIES),see: harness list studies))"
	@echo "make report        regenerate reports from the tracking store, no training"
	@echo "make verify-reports  rerun HEAD's studies (standard) in a temporary clone; exit 1 if a committed verdicts.json drifts"
	@echo "make ui            MLflow UI on http://127.0.0.1:5000"
	@echo "make bench         benchmarks (ratios measured in one invocation) -> reports/bench.md"
	@echo "make faults        kill, stop (SIGSTOP/SIGCONT) and race workers at the queue's step boundaries, check its invariants -> reports/faults.md"
	@echo "make services      local PostgreSQL + mlflow server (127.0.0.1) for --storage/--tracking-uri; make services-down"
	@echo "make dashboard     optuna-dashboard over the study storage on http://127.0.0.1:8080 (STORAGE=...)"
	@echo "make clean         remove the tracking store, the Optuna journal and the venv"

setup: $(STAMP) data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_PIP)
	$(BIN)/pip install -q -e '.[test,scale]'
	touch $(STAMP)

# Fashion-MNIST: $HARNESS_FASHION_MNIST_DIR, else Debian's package (installed
# here when we are root with apt-get), else HARNESS_ALLOW_DOWNLOAD=1 (SHA-256 checked).
data:
	@if [ -n "$$HARNESS_FASHION_MNIST_DIR" ] || [ -d "$(FASHION_DIR)" ] || [ -n "$$HARNESS_ALLOW_DOWNLOAD" ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) >/dev/null; \
	else \
	  echo "Fashion-MNIST not found. Install Debian's dataset-fashion-mnist, or set HARNESS_FASHION_MNIST_DIR=/path/to/idx/files," \
	       "or HARNESS_ALLOW_DOWNLOAD=1 to fetch it from the official source with checksum checks."; exit 1; \
	fi

test: setup
	$(BIN)/python -m pytest -q -m "not faults"

check: setup
	$(BIN)/python -m pytest -q -m "not slow"

# About 22 minutes on 2 cores alone: the end-to-end fault tests (pytest -m faults, 2.7 minutes), then 363 injections
# (python -m harness.faults, 19 minutes): 15 signals (5 step boundaries x SIGKILL/SIGTERM/SIGINT x 1 occurrence;
# --per-point 2 doubles them), 5 SIGSTOP-past-the-heartbeat-grace runs (journal and SQLite), 8 barrier runs (2 and 3
# workers released together at start/enqueue/claim, on the journal and PostgreSQL), 5 infrastructure faults
# (PostgreSQL crashed, the mlflow server killed, a full disk; harness.infrafaults), 330 journal cuts (every byte of
# the last two records checked, 11 repaired and resumed end to end; harness.journalfaults).
faults: setup
	$(BIN)/python -m pytest -q -m faults
	$(BIN)/python -m harness.faults

reproduce: setup
	$(HARNESS) run all --budget $(BUDGET)$(if $(WORKERS), --workers $(WORKERS))

# A pattern rule, never listed in .PHONY: GNU make skips implicit-rule search for phony targets, so
# `make study-NAME` would do nothing. FORCE makes it run every time instead. An unknown NAME gets the
# harness's own error with the known names.
study-%: setup FORCE
	$(HARNESS) run $* --budget $(BUDGET)$(if $(WORKERS), --workers $(WORKERS))

FORCE:

report: setup
	$(HARNESS) report --budget $(BUDGET)

# Clones HEAD into a temporary folder, reruns every study there with a private store
# (about 6 hours at the standard budget on 2 cores, one study after another) and compares each
# reports/<study>/verdicts.json with the committed one; the project's own store and reports/ are not touched.
verify-reports: setup
	$(BIN)/python -m harness.verify

ui: setup
	$(HARNESS) ui

bench: setup
	$(BIN)/python -m harness.bench

# The local equivalent of a several-machine setup (README, "Several machines"): needs PostgreSQL's
# server programs (apt-get install postgresql). Prints the --storage and --tracking-uri to use.
services: setup
	$(BIN)/python -m harness.services up

services-down:
	$(BIN)/python -m harness.services down

# optuna-dashboard over the Optuna storage (the journal by default; STORAGE=postgresql+psycopg2://... for RDB)
dashboard: setup
	@case "$(STORAGE)" in *://*) ;; *) test -e "$(STORAGE)" || { echo "no Optuna storage at $(STORAGE): run a study first, or pass STORAGE=..."; exit 1; } ;; esac
	$(BIN)/optuna-dashboard $(STORAGE) --host 127.0.0.1 --port 8080

clean:
	rm -rf $(VENV) .harness mlflow.db mlruns mlartifacts .pytest_cache *.egg-info
