# The one entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
SERVICES := ingestion training scoring monitoring

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: uv
uv: ## Install the pinned uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || [ -x "$(HOME)/.local/bin/uv" ] || $(PYTHON) -m pip install --user --quiet "uv==$(UV_VERSION)"

.PHONY: install
install: uv ## Install every workspace member and the dev tools (frozen lockfile)
	@$(UV) sync --all-packages --frozen --quiet

.PHONY: up
up: install ## Start the embedded platform (broker, MLflow, services, dashboard) and print the URLs
	@$(UV) run --frozen credit up

.PHONY: down
down: ## Stop exactly what `make up` started
	@$(UV) run --frozen credit down

.PHONY: status
status: ## Show each process of the embedded platform, its memory and its health
	@$(UV) run --frozen credit status

.PHONY: test
test: install ## Run the whole test suite (unit, integration, e2e; docker tests skip without an engine)
	@$(UV) run --frozen pytest

.PHONY: test-unit
test-unit: install ## Run the unit tests only
	@$(UV) run --frozen pytest -m unit

.PHONY: lint
lint: install ## ruff (lint and format check) and mypy (strict on our packages)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy

.PHONY: format
format: install ## Apply ruff's fixes and formatting
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

.PHONY: asyncapi
asyncapi: install ## Regenerate the AsyncAPI documents under docs/asyncapi/
	@for s in $(SERVICES); do $(UV) run --frozen python -m $${s}_service --asyncapi docs/asyncapi/$$s.json || exit 1; done
	@echo "AsyncAPI documents written to docs/asyncapi/"

.PHONY: bench
bench: install ## Run every benchmark (full size; QUICK=1 for the quick runs)
	@for b in bench/[!_]*.py; do $(UV) run --frozen python $$b $(if $(QUICK),--quick) || exit 1; done
