# AIMIS — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)

.PHONY: help up test setup test-sqlite test-postgres lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## install what is missing (uv, Python packages from the lock, npm libraries, Debian packages)
	@bash scripts/setup.sh

up: setup ## start the whole platform on the embedded default (Ctrl-C stops it)
	@$(UV) run --frozen aimis up

test: setup ## run the full suite on SQLite and on PostgreSQL
	@bash scripts/test.sh

test-sqlite: setup ## the suite on SQLite only
	@AIMIS_TEST_DB=sqlite $(UV) run --frozen pytest -q

test-postgres: setup ## the suite on PostgreSQL only (127.0.0.1:5432)
	@AIMIS_TEST_DB=postgres $(UV) run --frozen pytest -q

lint: setup ## ruff and mypy
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check . && $(UV) run --frozen mypy .

clean: ## remove the local data folder (the demo database, images, Prefect's database)
	rm -rf data
