# Bitrix24 app backend (Django). `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 0.0.0.0
PORT ?= 8000

# $(call setting,NAME,DEFAULT): NAME's value from the environment (or the make command line), else from .env,
# else DEFAULT. Recursive variables that use it read .env when a recipe runs, after the .env target made it.
setting = $(or $($(1)),$(shell sed -n 's/^$(1)=//p' .env 2>/dev/null | tail -n 1 | tr -d "\"'"),$(2))

# `make run` uses the embedded SQLite database unless DB_ENGINE (environment or .env) says postgresql or mysql.
RUN_DB_ENGINE := $(call setting,DB_ENGINE,sqlite)

# The PostgreSQL server the tests use (pytest-django creates and drops its own test_<name> database there).
TEST_DB_HOST ?= 127.0.0.1
TEST_DB_PORT ?= 5432
TEST_DB_USER ?= appuser
TEST_DB_PASSWORD ?= apppass
TEST_DB_NAME ?= appdb
# The RabbitMQ server the queue tests use (they make a virtual host of their own there with rabbitmqctl).
TEST_RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672
TEST_ENV := DB_ENGINE=postgresql DB_HOST=$(TEST_DB_HOST) DB_PORT=$(TEST_DB_PORT) DB_USER=$(TEST_DB_USER) \
	DB_PASSWORD=$(TEST_DB_PASSWORD) DB_NAME=$(TEST_DB_NAME) TEST_RABBITMQ_URL=$(TEST_RABBITMQ_URL)

# The MySQL or MariaDB server `make test-mysql` uses (the database name is TEST_DB_NAME's too). The user must be able
# to create and drop databases: root, as on CI, or one granted that.
TEST_MYSQL_HOST ?= 127.0.0.1
TEST_MYSQL_PORT ?= 3306
TEST_MYSQL_USER ?= root
TEST_MYSQL_PASSWORD ?=
TEST_MYSQL_ENV := DB_ENGINE=mysql DB_HOST=$(TEST_MYSQL_HOST) DB_PORT=$(TEST_MYSQL_PORT) DB_USER=$(TEST_MYSQL_USER) \
	DB_PASSWORD=$(TEST_MYSQL_PASSWORD) DB_NAME=$(TEST_DB_NAME) TEST_RABBITMQ_URL=$(TEST_RABBITMQ_URL)

.PHONY: help venv run worker beat test test-mysql bench lint audit format migrate superuser jwt b24-call \
	dev-python prod-python logs down clean print-profiles compose-config compose-available docker-ready

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The MySQL driver compiles (requirements-mysql.txt): installed only where MySQL is used.
$(BIN)/.mysql-installed: requirements-mysql.txt $(BIN)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-mysql.txt
	@touch $@

venv: $(BIN)/.installed $(if $(filter mysql,$(RUN_DB_ENGINE)),$(BIN)/.mysql-installed) ## Create .venv and install the pinned requirements (the MySQL driver too when DB_ENGINE=mysql)

run: venv ## Serve the API on $(HOST):$(PORT) (SQLite unless DB_ENGINE=postgresql or mysql)
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py migrate --noinput
	DB_ENGINE=$(RUN_DB_ENGINE) exec $(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: venv ## Run a Celery worker against the configured broker and database (README: Background work)
	DB_ENGINE=$(RUN_DB_ENGINE) exec $(BIN)/celery -A celery_app worker

beat: venv ## Run Celery beat: sends the token renewal to the workers when TOKEN_REFRESH_ENABLED=1
	DB_ENGINE=$(RUN_DB_ENGINE) exec $(BIN)/celery -A celery_app beat

test: venv ## Run the whole test suite against PostgreSQL (TEST_DB_* say where)
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

test-mysql: venv $(BIN)/.mysql-installed ## Run the whole test suite against MySQL/MariaDB (TEST_MYSQL_* and TEST_DB_NAME say where)
	$(TEST_MYSQL_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv ## Benchmark the production server with wrk; writes bench/results.md (settings: bench/run.py)
	$(BIN)/python -m bench.run

lint: venv ## Check formatting and lint with ruff, and types with mypy (main/ and the top-level modules)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

audit: venv ## Check the pinned requirements for known vulnerabilities (pip-audit; needs PyPI online, fails if it cannot check)
	$(BIN)/pip-audit --strict --requirement requirements.txt --requirement requirements-mysql.txt

format: venv ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: venv ## Apply migrations to the configured database
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py migrate --noinput

superuser: venv ## Create the admin superuser from DJANGO_SUPERUSER_USERNAME/EMAIL/PASSWORD
	DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py createsuperuser --noinput

# The developer tools on `make run`'s database; only their output on stdout (TOKEN=$(make -s jwt ACCOUNT=...)).
jwt: venv ## Print a JWT for curl (development only): make -s jwt ACCOUNT="portal.bitrix24.com 1" (or an account id)
	@LOG_LEVEL=WARNING DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py issue_jwt $(ACCOUNT)

b24-call: venv ## Call Bitrix24 as an account: make b24-call ACCOUNT="portal.bitrix24.com 1" METHOD=profile [PARAMS='{...}']
	@LOG_LEVEL=WARNING DB_ENGINE=$(RUN_DB_ENGINE) $(BIN)/python manage.py b24_call $(ACCOUNT) $(METHOD) $(if $(PARAMS),'$(PARAMS)')

# ---- Docker -------------------------------------------------------------------------------------------------------
# `docker compose` (v2), else the older `docker-compose`; empty when neither is installed.
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi)

# Development adds docker-compose.override.yml (the code mount); production must not have it.
DEV_FILES := -f docker-compose.yml -f docker-compose.override.yml
PROD_FILES := -f docker-compose.yml
ALL_PROFILES := postgresql mysql python queue beat cloudpub frontend

# The database service: MariaDB (profile mysql) when DB_ENGINE=mysql, else PostgreSQL (profile postgresql; `make run`'s
# sqlite is no choice for Docker). DOCKER_DB_* point api-python at it (docker-compose.yml).
DB_PROFILE = $(if $(filter mysql,$(call setting,DB_ENGINE,postgresql)),mysql,postgresql)
DOCKER_DB_ENV = $(if $(filter mysql,$(DB_PROFILE)),DOCKER_DB_ENGINE=mysql DOCKER_DB_HOST=database-mysql DOCKER_DB_PORT=3306)

# dev-python's profiles: the database's and python always; frontend when its folder exists, cloudpub when
# CLOUDPUB_TOKEN is set, queue when ENABLE_RABBITMQ is on, and then beat when TOKEN_REFRESH_ENABLED is on.
# prod-python's: the database's, python, and queue and beat as for dev-python. On: what config.py's env.bool takes
# as true.
FRONTEND_FOLDER = $(call setting,FRONTEND_DIR,./frontend)
HAS_FRONTEND = $(wildcard $(FRONTEND_FOLDER)/.)
HAS_CLOUDPUB_TOKEN = $(call setting,CLOUDPUB_TOKEN,)
TRUE_VALUES = 1 t T true True TRUE y Y yes Yes YES on On ON
WANTS_QUEUE = $(filter $(TRUE_VALUES),$(call setting,ENABLE_RABBITMQ,0))
WANTS_BEAT = $(if $(WANTS_QUEUE),$(filter $(TRUE_VALUES),$(call setting,TOKEN_REFRESH_ENABLED,0)))
QUEUE_PROFILES = $(if $(WANTS_QUEUE),queue) $(if $(WANTS_BEAT),beat)
DEV_PROFILES = $(strip $(DB_PROFILE) $(if $(HAS_FRONTEND),frontend) python $(if $(HAS_CLOUDPUB_TOKEN),cloudpub) \
	$(QUEUE_PROFILES))
PROD_PROFILES = $(strip $(DB_PROFILE) python $(QUEUE_PROFILES))

define left_out_profiles
$(if $(HAS_FRONTEND),,echo "Leaving out profile frontend: no folder $(FRONTEND_FOLDER) (FRONTEND_DIR in .env names it).";)
$(if $(HAS_CLOUDPUB_TOKEN),,echo "Leaving out profile cloudpub: CLOUDPUB_TOKEN is empty in .env.";)
$(if $(WANTS_QUEUE),,echo "Leaving out profile queue: set ENABLE_RABBITMQ=1 in .env to start RabbitMQ and the worker.";)
$(if $(WANTS_BEAT),,echo "Leaving out profile beat: set TOKEN_REFRESH_ENABLED=1 (and ENABLE_RABBITMQ=1) to renew tokens.";)
endef

# Compose v1 checks the build folder of every service, even of a profile left out: give a missing frontend folder
# an existing stand-in, which is never built.
COMPOSE_ENV = $(if $(HAS_FRONTEND),,FRONTEND_DIR=.)
compose_with = $(strip $(1) $(COMPOSE_ENV) $(DOCKER_DB_ENV) $(COMPOSE) $(2) $(addprefix --profile ,$(3)))
COMPOSE_DEV = $(call compose_with,BUILD_TARGET=dev,$(DEV_FILES),$(DEV_PROFILES))
COMPOSE_PROD = $(call compose_with,BUILD_TARGET=production,$(PROD_FILES),$(PROD_PROFILES))
COMPOSE_ALL = $(call compose_with,,$(PROD_FILES),$(ALL_PROFILES))

compose-available:
	@[ -n "$(COMPOSE)" ] || { echo "This target needs Docker Compose: install Docker with its compose plugin" \
		"(https://docs.docker.com/get-docker/), or docker-compose." >&2; exit 1; }

docker-ready: compose-available
	@docker info >/dev/null 2>&1 || { echo "The Docker engine is not reachable: start Docker" \
		"('docker info' tells what is wrong)." >&2; exit 1; }

# Compose needs .env (env_file of api-python); a first run starts from the documented example.
.env:
	@test -f .env.example || { echo "Neither .env nor .env.example exists." >&2; exit 1; }
	cp .env.example .env
	@echo "Created .env from .env.example: set CLIENT_ID, CLIENT_SECRET, JWT_SECRET and VIRTUAL_HOST in it."

dev-python: docker-ready .env ## Start the dev stack in Docker: database, backend (live reload) + frontend, cloudpub, queue, beat
	@$(left_out_profiles)
	$(COMPOSE_DEV) up --build

prod-python: docker-ready ## Start the production backend (gunicorn) and database in Docker, detached (+ queue, beat when enabled)
	@test -f .env || { echo "prod-python needs .env with your real secrets: cp .env.example .env, then edit it." >&2; \
		exit 1; }
	$(COMPOSE_PROD) up --build --detach
	@echo "Started. 'make logs' follows the logs; http://localhost:8000/api/healthz answers when it is ready."

logs: docker-ready .env ## Follow the logs of the Docker services
	$(COMPOSE_ALL) logs --follow --tail=200

down: docker-ready .env ## Stop and remove the Docker services (data volumes are kept)
	$(COMPOSE_ALL) down --remove-orphans

clean: docker-ready .env ## Remove the Docker services, their volumes (the database's data too) and built images
	$(COMPOSE_ALL) down --remove-orphans --volumes --rmi local

print-profiles: ## Show the compose profiles dev-python and prod-python use, and why some are left out
	@$(left_out_profiles)
	@echo "dev-python: $(DEV_PROFILES)"
	@echo "prod-python: $(PROD_PROFILES)"

# CONFIG_FLAGS= (empty) prints the merged files instead, secrets from .env included.
CONFIG_FLAGS ?= --quiet
compose-config: compose-available .env ## Validate the compose files as dev-python and prod-python use them (no engine)
	@$(COMPOSE_DEV) config $(CONFIG_FLAGS)
	@echo "---"
	@$(COMPOSE_PROD) config $(CONFIG_FLAGS)
