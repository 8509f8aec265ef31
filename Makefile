# xent: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The environment is installed once per content of pyproject.toml (stamp file).
# requirements-nodeps.txt: packages installed with --no-deps (tensorflow-serving-api
# would otherwise pull in the full tensorflow beside tensorflow-cpu).
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-nodeps.txt | sha256sum | cut -c1-16)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0
# The editable install: models/ and pipelines/ install as xent.models and
# xent.pipelines, so setuptools maps the packages with an import finder and
# prints "Editable installation ... Please be careful with folders in your
# working directory with the same name as your package" on every install.
# No folder here is named xent; the filter drops that one notice only.

$(STAMP): pyproject.toml requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation:UserWarning' \
	  $(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

.PHONY: install
install: $(STAMP) ## Create .venv and install pinned dependencies (once)

# Pass-through options for the train targets: make train-binary DATA=f.csv LABEL=y EPOCHS=5
TRAIN_ARGS = $(if $(DATA),--data '$(DATA)') $(if $(TEST_DATA),--test-data '$(TEST_DATA)') \
             $(if $(LABEL),--label '$(LABEL)') $(if $(EPOCHS),--epochs $(EPOCHS)) \
             $(if $(SEED),--seed $(SEED)) $(ARGS)
TB_PORT ?= 6006

.PHONY: train-ctr
train-ctr: $(STAMP) ## Train the CTR pipeline (synthetic click log; DATA= TEST_DATA= FORMAT= ROWS= EPOCHS=)
	$(VENV)/bin/xent train ctr $(TRAIN_ARGS) $(if $(FORMAT),--format $(FORMAT)) $(if $(ROWS),--rows $(ROWS))

.PHONY: train-binary
train-binary: $(STAMP) ## Train the binary pipeline (breast cancer; DATA= LABEL= EPOCHS= SEED=)
	$(VENV)/bin/xent train binary $(TRAIN_ARGS)

.PHONY: train-multiclass
train-multiclass: $(STAMP) ## Train the multiclass pipeline (digits CNN; DATA= LABEL= EPOCHS= SEED=)
	$(VENV)/bin/xent train multiclass $(TRAIN_ARGS)

.PHONY: train-gan
train-gan: $(STAMP) ## Train the GAN pipeline (DCGAN on digits; DATA=tfds:mnist EPOCHS= SEED=)
	$(VENV)/bin/xent train gan $(TRAIN_ARGS)

.PHONY: tensorboard
tensorboard: $(STAMP) ## Serve TensorBoard for runs/ on 127.0.0.1 (TB_PORT=6006)
	@mkdir -p runs
	@echo "TensorBoard: http://127.0.0.1:$(TB_PORT)/"
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1 --port $(TB_PORT)

MODEL_BASE ?= saved_models
PORT ?= 8501
GRPC_PORT ?= 8500

.PHONY: serve
serve: $(STAMP) ## Serve exported models over REST and gRPC (MODEL_BASE=saved_models PORT=8501 GRPC_PORT=8500)
	$(VENV)/bin/xent serve --model-base '$(MODEL_BASE)' --port $(PORT) --grpc-port $(GRPC_PORT) $(ARGS)

.PHONY: install-chromium
install-chromium: ## Install headless Chromium (Debian/Ubuntu, as root) for the report page test
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@(command -v chromium || command -v chromium-browser) && echo "tests/xent/test_report_browser.py will run"

# The fast tests run in TEST_WORKERS processes (pytest-xdist), a test file per
# process at a time (module fixtures stay shared): on 2 cores 7 min 48 s
# instead of 11 min 11 s one after the other, as much of a test is Python
# (tracing, compiling) that one core runs while the other trains.
# TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

.PHONY: test
test: $(STAMP) ## Run the fast tests (CI runs these, then test-slow)
	$(PY) -m pytest -m "not slow" -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.PHONY: test-slow
test-slow: $(STAMP) ## Run the slow tests (two-worker training on 127.0.0.1, benchmarks; CI too)
	$(PY) -m pytest -m slow -q

.PHONY: lint
lint: $(STAMP) ## Lint and check import order with ruff
	$(VENV)/bin/ruff check src models pipelines tests
	$(VENV)/bin/ruff format --check src models pipelines tests

.PHONY: format
format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff check --fix src models pipelines tests
	$(VENV)/bin/ruff format src models pipelines tests

.PHONY: parity
parity: $(STAMP) ## Write reports/parity.md and .json: our losses vs Keras and a float64 reference
	$(PY) -m xent.parity --out reports

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks; writes reports/bench/*.json and reports/bench/README.md
	$(PY) -m xent.bench --out reports/bench
