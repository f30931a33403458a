# conversa: `make run` (local stack) and `make test` (every check). Everything they need
# is installed by these rules, pinned, into ignored folders (.venv, .tools).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip --quiet --disable-pip-version-check
CARGO ?= cargo

.PHONY: run test venv fmt-check clippy unit integration lint-template build bench clean

## The emulator (moto server) for `make run` and the integration tests.
venv: $(VENV)/.installed
$(VENV)/.installed: infra/emulator/requirements.txt infra/lint-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r infra/emulator/requirements.txt
	$(PIP) install -r infra/lint-requirements.txt
	touch $@

## The whole stack locally on http://127.0.0.1:3000.
run: venv
	$(CARGO) run -p conversa-infra --bin local-stack

## Formatting, clippy (warnings denied), unit and integration tests, template checks.
test: fmt-check clippy lint-template unit integration

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint-template: venv
	$(VENV)/bin/cfn-lint template.yaml

unit:
	$(CARGO) test --workspace --lib --bins

integration: venv
	$(CARGO) test -p conversa-tests --tests

bench:
	$(CARGO) bench -p conversa

clean:
	rm -rf $(VENV) .tools .aws-sam target
