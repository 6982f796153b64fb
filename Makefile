# Bitrix24 app backend (Django). `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 0.0.0.0
PORT ?= 8000

# `make run` uses the embedded SQLite database unless DB_ENGINE (environment or .env) says postgresql.
RUN_DB_ENGINE := $(or $(DB_ENGINE),$(shell sed -n 's/^DB_ENGINE=//p' .env 2>/dev/null | tail -n 1),sqlite)

# The PostgreSQL server the tests use (pytest-django creates and drops its own test_<name> database there).
TEST_DB_HOST ?= 127.0.0.1
TEST_DB_PORT ?= 5432
TEST_DB_USER ?= appuser
TEST_DB_PASSWORD ?= apppass
TEST_DB_NAME ?= appdb
TEST_ENV := DB_ENGINE=postgresql DB_HOST=$(TEST_DB_HOST) DB_PORT=$(TEST_DB_PORT) DB_USER=$(TEST_DB_USER) \
	DB_PASSWORD=$(TEST_DB_PASSWORD) DB_NAME=$(TEST_DB_NAME)

.PHONY: help venv run test lint format migrate superuser

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed ## Create .venv and install the pinned requirements

run: venv ## Serve the API on $(HOST):$(PORT) (SQLite unless DB_ENGINE=postgresql)
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py migrate --noinput
	DB_ENGINE=$(RUN_DB_ENGINE) exec $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: venv ## Run the whole test suite against PostgreSQL (TEST_DB_* say where)
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv ## Check formatting and lint with ruff
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: venv ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: venv ## Apply migrations to the configured database
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py migrate --noinput

superuser: venv ## Create the admin superuser from DJANGO_SUPERUSER_USERNAME/EMAIL/PASSWORD
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py createsuperuser --noinput
