# Gorod: the two commands a newcomer needs are `make up` and `make test` (see README.md).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)
RUN := UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never $(UV) run --frozen --quiet
SERVICES := $(notdir $(wildcard services/*))
PACKAGES := servicekit gateway $(SERVICES)

.PHONY: up down status test lint unit bootstrap bench openapi

## up: install what is missing, start PostgreSQL and RabbitMQ, provision, migrate, load demo data, run all
up: bootstrap
	@$(RUN) python deploy/local/stack.py up

## down: stop what `make up` started
down:
	@$(RUN) python deploy/local/stack.py down

status:
	@$(RUN) python deploy/local/stack.py status

bootstrap:
	@bash deploy/local/bootstrap.sh

## test: linters, type checks, import contracts, then every test against a test stack of its own
test: bootstrap lint
	@$(RUN) pytest

lint:
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy $(addprefix -p ,$(PACKAGES))
	@$(RUN) lint-imports

## bench: the benchmarks, at a size that runs in minutes (ratios against a baseline measured in the same run;
## each script's docstring gives the full-size command)
bench: bootstrap
	@$(RUN) python bench/events.py
	@$(RUN) python bench/auth_tokens.py
	@$(RUN) python bench/problems_map.py --problems 100000
	@$(RUN) python bench/routing_resolution.py --appeals 100000
	@$(RUN) python bench/gateway_proxy.py
	@$(RUN) python bench/analytics_reports.py --problems 50000

## openapi: refresh contracts/openapi/*.json from the apps (a test fails when they drift)
openapi:
	@$(RUN) python deploy/local/export_openapi.py
