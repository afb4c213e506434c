# reAPI: `make run` starts the whole thing on this machine, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SIMULATOR_PORT ?= 8090
export SIMULATOR_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)

.PHONY: run test lint format install install-dev cli-clients clean-test-db bench fuzz chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py collectstatic --no-input -v0
	$(BIN)/python manage.py load_demo_catalog
	$(BIN)/python manage.py demo_user
	PORT=$(PORT) SIMULATOR_PORT=$(SIMULATOR_PORT) $(BIN)/python scripts/run.py

test: install-dev cli-clients
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Codex CLI and Claude Code, pinned, for tests/gateway/test_cli_clients.py (they run the real
# clients against the test gateway). Installed from the npm registry when npm is here; without
# npm those tests are skipped and say why.
CODEX_VERSION ?= 0.171.0
CLAUDE_CODE_VERSION ?= 2.1.332
CLI_CLIENTS := var/cli-clients
cli-clients:
	@if [ -f $(CLI_CLIENTS)/.installed-$(CODEX_VERSION)-$(CLAUDE_CODE_VERSION) ]; then :; \
	elif command -v npm >/dev/null; then \
		mkdir -p $(CLI_CLIENTS) && \
		npm install --prefix $(CLI_CLIENTS) --no-audit --no-fund --loglevel=error \
			@openai/codex@$(CODEX_VERSION) @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) && \
		touch $(CLI_CLIENTS)/.installed-$(CODEX_VERSION)-$(CLAUDE_CODE_VERSION); \
	else echo "npm not found: the Codex CLI and Claude Code tests will be skipped"; fi

# Thousands of requests with faults, aborts and killed processes, then the books checked
# (bench/chaos.py). Needs PostgreSQL and Redis on 127.0.0.1, as CI has.
CHAOS_REQUESTS ?= 3000
chaos: install-dev
	$(BIN)/python bench/chaos.py --requests $(CHAOS_REQUESTS)

# Deeper schema fuzzing of /v1 than `make test` runs (tests/gateway/test_fuzz.py).
FUZZ_EXAMPLES ?= 300
fuzz: install-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/gateway/test_fuzz.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-test-db:
	rm -f var/test_*.sqlite3

# reAPI vs the LiteLLM proxy, same upstream, same run (bench/README.md). LiteLLM lives in its
# own virtual environment under bench/, never in the project's requirements.
LITELLM_VERSION ?= 1.108.7
bench: install-dev
	command -v wrk >/dev/null || (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk))
	test -x bench/.litellm-venv/bin/litellm || ($(PYTHON) -m venv bench/.litellm-venv && bench/.litellm-venv/bin/pip install --quiet "litellm[proxy]==$(LITELLM_VERSION)")
	$(BIN)/python bench/compare.py $(BENCH_ARGS)
