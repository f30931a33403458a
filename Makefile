# conversa: `make run` (local stack) and `make test` (every check). Everything they need
# is installed by these rules, pinned, into ignored folders (.venv, .tools).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip --quiet --disable-pip-version-check
CARGO ?= cargo


.PHONY: run test venv fmt-check clippy build-tests unit integration integration-and-contract contract lint-template build build-tools bench bench-batch bench-campaign bench-coldstart cost soak crash-points campaign-soak load e2e clean

## The emulator (moto server) for `make run` and the integration tests, the linters and
## schemathesis for `make contract`.
venv: $(VENV)/.installed
$(VENV)/.installed: infra/emulator/requirements.txt infra/lint-requirements.txt infra/contract/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r infra/emulator/requirements.txt
	$(PIP) install -r infra/lint-requirements.txt
	$(PIP) install -r infra/contract/requirements.txt
	touch $@

## SAM CLI for `sam validate --lint`, and the SAM translator's policy templates the
## template consistency test expands, in a venv of their own: SAM CLI pins boto3,
## botocore, pydantic and click to other versions than the emulator's. About 45 s to
## install (infra/sam-requirements.txt, with infra/lint-requirements.txt's cfn-lint).
SAM_VENV := $(VENV)/sam
$(SAM_VENV)/.installed: infra/lint-requirements.txt infra/sam-requirements.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip --quiet --disable-pip-version-check install \
	  -r infra/lint-requirements.txt -r infra/sam-requirements.txt
	touch $@

## The whole stack locally on http://127.0.0.1:3000.
run: venv
	$(CARGO) run -p conversa-infra --bin local-stack

## Formatting, clippy (warnings denied), template and API-contract checks, unit and
## integration tests, and the contract run against the local stack.
##
## Clippy's lints run inside the one test build instead of a `cargo clippy` beside it:
## clippy-driver is rustc with clippy's lint passes added, and `cargo clippy` itself runs it
## as RUSTC_WORKSPACE_WRAPPER with its arguments in CLIPPY_ARGS. So the workspace's
## dependencies are compiled once (a `cargo clippy` first checked all of them, 3 of
## `make test`'s minutes), and every target is still linted with warnings denied. Each cargo
## command under `make test` sees the same wrapper, so none rebuilds the workspace. The
## Python tools install meanwhile. `make clippy` stays plain `cargo clippy`.
CLIPPY_DRIVER := $(shell rustc --print sysroot 2>/dev/null)/bin/clippy-driver
test: export RUSTC_WORKSPACE_WRAPPER := $(CLIPPY_DRIVER)
test: export CLIPPY_ARGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
test: export PREBUILT := 1
test: fmt-check
	@test -x "$(CLIPPY_DRIVER)" || { echo "make test: no clippy-driver at $(CLIPPY_DRIVER) (rustup component add clippy)"; exit 1; }
	mkdir -p target; \
	$(MAKE) --no-print-directory venv $(SAM_VENV)/.installed > target/venv.log 2>&1 & tools=$$!; \
	$(MAKE) --no-print-directory build-tests; built=$$?; \
	wait $$tools; installed=$$?; cat target/venv.log; \
	test $$built -eq 0 && test $$installed -eq 0
	$(MAKE) --no-print-directory unit integration-and-contract

## Every target of the workspace (libraries, binaries, tests, benchmarks) in the test
## profile; under `make test` with clippy's lints, warnings denied.
build-tests:
	$(CARGO) test --workspace --all-targets --no-run

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `sam validate --lint` needs no AWS account (cfn-lint on the SAM template, offline).
lint-template: venv $(SAM_VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	@grep -qx 'aws-sam-cli==$(SAM_CLI_VERSION)' infra/sam-requirements.txt || \
	  { echo "infra/sam-requirements.txt does not pin SAM_CLI_VERSION ($(SAM_CLI_VERSION))"; exit 1; }
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template-file template.yaml --region us-east-1
	$(VENV)/bin/openapi-spec-validator docs/openapi.yaml

# The binaries are thin `main.rs` files without tests: linking a test build of each would
# only cost time.
unit:
	$(CARGO) test --workspace --lib

# The long tests (the soaks and the crash-point exploration) run beside the others (each
# test binary has its own emulator), so the two cores share the work; their output
# follows the others'. The two lanes take about as long.
SLOW_TESTS := soak send_soak campaign_soak crash_points routing
FAST_TESTS := $(filter-out $(SLOW_TESTS),$(basename $(notdir $(wildcard tests/tests/*.rs))))

integration: venv $(SAM_VENV)/.installed
	$(CARGO) test --workspace --test '*' --no-run
	mkdir -p target; \
	$(CARGO) test --workspace $(addprefix --test ,$(SLOW_TESTS)) > target/slow-tests.log 2>&1 & soak=$$!; \
	$(CARGO) test --workspace $(addprefix --test ,$(FAST_TESTS)); fast=$$?; \
	wait $$soak; slow=$$?; cat target/slow-tests.log; \
	test $$fast -eq 0 && test $$slow -eq 0

## The integration tests, and beside them the contract run (30 examples per operation
## here, 100 in `make contract`), docs/deploy.md's offline commands and the template
## checks, the three at once (each has its own emulator and stack): run one after another
## they outlasted the tests by two minutes on one core. Their output after the tests'.
## The stack's binaries are built first (PREBUILT under `make test`): the scripts then
## call no cargo, whose build lock the running tests hold until they end.
integration-and-contract: venv
	$(CARGO) build --workspace --bin local-stack --bin send-webhook
	mkdir -p target; \
	CONTRACT_EXAMPLES=$${CONTRACT_EXAMPLES:-30} CARGO="$(CARGO)" VENV="$(VENV)" infra/contract/run.sh > target/contract.log 2>&1 & contract=$$!; \
	$(MAKE) --no-print-directory deploy-doc-test > target/deploy-doc.log 2>&1 & guide=$$!; \
	$(MAKE) --no-print-directory lint-template build-route-test > target/template-checks.log 2>&1 & checks=$$!; \
	$(MAKE) --no-print-directory integration; tests=$$?; \
	wait $$contract; c=$$?; wait $$guide; g=$$?; wait $$checks; k=$$?; \
	cat target/contract.log target/deploy-doc.log target/template-checks.log; \
	test $$tests -eq 0 && test $$c -eq 0 && test $$g -eq 0 && test $$k -eq 0

## schemathesis against the running local stack, docs/openapi.yaml as the contract: every
## check, a fixed seed, bounded examples (infra/contract/run.sh; about 75 s once built).
contract: venv
	CARGO="$(CARGO)" VENV="$(VENV)" infra/contract/run.sh

## The agent console (console/) in a real browser: headless Chromium (Debian's chromium
## and chromium-driver, installed with apt-get when missing) driven by the pinned Selenium
## of infra/e2e/requirements.txt through a scenario on its own local stack — a webhook
## arrives and the queue count moves without reload, capture, reply (found in the sandbox
## outbox), close (infra/e2e/console_e2e.py; screenshots in target/e2e/screenshots).
e2e: venv $(VENV)/.e2e-installed
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "e2e: installing Debian's chromium and chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null || exit 1; fi
	$(CARGO) build -q --workspace --bin local-stack
	E2E_STACK="$${E2E_STACK:-$${CARGO_TARGET_DIR:-target}/debug/local-stack}" $(VENV)/bin/python infra/e2e/console_e2e.py

$(VENV)/.e2e-installed: $(VENV)/.installed infra/e2e/requirements.txt
	$(PIP) install -r infra/e2e/requirements.txt
	touch $@

bench:
	$(CARGO) bench -p conversa-bench --bench inbound

## One SQS batch of 10 records through the real inbound handler, over 10 contacts and over
## one, with every AWS call delayed BATCH_CALL_DELAY_MS (10) by a proxy in front of the
## emulator: groups run concurrently, so 10 contacts take about one record's time.
bench-batch: venv
	$(CARGO) bench -p conversa-bench --bench inbound_batch

## The campaign dispatcher alone (the table in memory) at 10,000 and 100,000 recipients:
## wall time and peak memory (docs/performance.md).
bench-campaign:
	$(CARGO) bench -p conversa-bench --bench campaign_dispatch

## Cold starts (docs/performance.md, "Cold start"): each function's release `bootstrap`
## and a bare `lambda_runtime` echo (the floor), built here with the same profile, started
## COLDSTART_RUNS times (5) against a minimal Lambda Runtime API with the function's
## environment from template.yaml and the emulator behind it: init, first and warm
## invoke, peak RSS, and their ratios to the floor, printed and written to
## docs/performance.md. COLDSTART_FUNCTIONS=webhook,inbound measures (and builds) only
## those. The release builds (fat LTO) take a few minutes per binary the first time.
comma := ,
COLDSTART_CRATES = $(if $(COLDSTART_FUNCTIONS),$(subst $(comma), ,$(COLDSTART_FUNCTIONS)),$(notdir $(wildcard functions/*)))
bench-coldstart: venv
	$(CARGO) build --release $(addprefix -p ,$(COLDSTART_CRATES)) -p coldstart
	$${CARGO_TARGET_DIR:-target}/release/coldstart

## The AWS cost per 1M inbound messages, agent sends and campaign recipients
## (docs/performance.md, "Cost per million"): counted calls, item sizes, memory and
## durations and the prices, all in bench/cost/inputs.json; printed and written to the doc.
cost:
	$(PYTHON) bench/cost/cost.py --write

## The long soaks under faults (docs/reliability.md): 10,000 inbound messages over 200
## contacts, every webhook twice, 5 % of AWS calls failing; 1,000 agent sends with the
## provider failing 17 % of them. `make test` runs 500 and 100.
soak: venv
	SOAK_MESSAGES=10000 SOAK_CONTACTS=200 $(CARGO) test --workspace --test soak -- --nocapture
	SOAK_SENDS=1000 $(CARGO) test --workspace --test send_soak -- --nocapture

## Every crash point of every scenario (tests/tests/crash_points.rs, docs/reliability.md):
## each AWS call failing, and each applied then answered as failed. `make test` explores
## half of them (each call one way); CI runs this too.
crash-points: venv
	CRASH_POINTS=all $(CARGO) test --workspace --test crash_points -- --nocapture

## A 10,000-recipient campaign at 80/s on the local stack and the sandbox provider: each
## recipient sent once, counters exact, no second above the rate (docs/performance.md).
## `make test` runs 150.
campaign-soak: venv
	CAMPAIGN_RECIPIENTS=10000 CAMPAIGN_RATE=80 $(CARGO) test --workspace --test campaign_soak -- --nocapture

## The local stack under load (docs/performance.md, "The local stack under load"): starts
## it as `make run` does, then 50 concurrent senders post signed webhooks, one message each
## and every one twice, for LOAD_MESSAGES messages (10,000) over LOAD_CONTACTS contacts
## (50); prints webhooks accepted per second, messages applied (stored) per second end to
## end and the stack's memory (its process and the emulator's). `make test` does not run it.
LOAD_MESSAGES ?= 10000
LOAD_CONTACTS ?= 50
load: venv
	$(CARGO) build -q -p conversa-infra --bin local-stack --bin load
	LOAD_MESSAGES=$(LOAD_MESSAGES) LOAD_CONTACTS=$(LOAD_CONTACTS) $${CARGO_TARGET_DIR:-target}/debug/load

## `sam build` for Lambda: an arm64 `bootstrap` per function, no Docker: cargo-lambda
## cross-links with zig. SAM CLI, cargo-lambda and zig come from PyPI, pinned, into
## .tools/venv on every route; Rust's aarch64 standard library by one of two, chosen by
## infra/build/route.sh and logged (docs/deploy.md):
##   rustup  `rustup target add aarch64-unknown-linux-gnu` works (a developer machine, a
##           CI with internet; also a Mac): no root;
##   debian  no rustup, or it cannot fetch targets: Debian's rustc-web (apt-get, root) with
##           the same version's arm64 std unpacked into .tools.
## BUILD_ROUTE=rustup|debian forces a route; `make build-route` prints the one chosen.
# The Debian compiler and std must be the same version: the pin below is used while the
# archive has it, else the current one.
TOOLS := $(CURDIR)/.tools
DEB_RUST_VERSION ?= 1.96.0+dfsg1-1~deb12u2
SAM_CLI_VERSION := 1.170.0
CARGO_LAMBDA_VERSION := 1.9.2
ZIGLANG_VERSION := 0.15.2

.PHONY: build-route build-route-test deploy-doc-test

# Chosen once per run, and only for these goals: trying rustup may download the target.
ifneq ($(filter build build-tools build-route,$(MAKECMDGOALS)),)
BUILD_ROUTE_CHOSEN := $(shell BUILD_ROUTE='$(BUILD_ROUTE)' RUSTUP_TARGET_TIMEOUT='$(RUSTUP_TARGET_TIMEOUT)' $(CURDIR)/infra/build/route.sh)
ifeq ($(filter rustup debian,$(BUILD_ROUTE_CHOSEN)),)
$(error no build route chosen (infra/build/route.sh, above))
endif
endif

ifeq ($(BUILD_ROUTE_CHOSEN),debian)
BUILD_RUST := $(TOOLS)/.rust-ok
# RUSTUP points at nothing on purpose: cargo-lambda then skips `rustup target add`.
BUILD_ENV := PATH="$(TOOLS)/bin:$(TOOLS)/venv/bin:$$PATH" RUSTC="$(TOOLS)/bin/rustc" RUSTUP="$(TOOLS)/no-rustup"
else
# rustup's cargo and rustc (the target was added by route.sh); cargo-lambda and zig from the venv.
BUILD_RUST :=
BUILD_ENV := PATH="$(TOOLS)/venv/bin:$$PATH"
endif

build-route:
	@echo $(BUILD_ROUTE_CHOSEN)

build-tools: $(BUILD_RUST) $(TOOLS)/.venv-ok

$(TOOLS)/.rust-ok:
	set -eu -o pipefail; \
	command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || { \
	  echo "the debian build route needs apt-get and root; with rustup able to add aarch64-unknown-linux-gnu, no root is needed (BUILD_ROUTE=rustup, docs/deploy.md)"; exit 1; }; \
	apt-get update -qq; \
	v="$(DEB_RUST_VERSION)"; \
	if ! apt-cache madison rustc-web | grep -qF " $$v "; then \
	  v=$$(apt-cache policy rustc-web | awk '/Candidate:/ {print $$2}'); \
	  echo "rustc-web $(DEB_RUST_VERSION) is gone from the archive; using $$v"; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rustc-web=$$v cargo-web=$$v; \
	dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }; \
	rm -rf $(TOOLS)/debs $(TOOLS)/rust-aarch64 $(TOOLS)/sysroot; \
	mkdir -p $(TOOLS)/debs $(TOOLS)/bin $(TOOLS)/sysroot/lib/rustlib; \
	(cd $(TOOLS)/debs && apt-get download -q libstd-rust-web-dev:arm64=$$v 2>&1 | grep -v unsandboxed || true); \
	dpkg-deb -x $(TOOLS)/debs/libstd-rust-web-dev_*_arm64.deb $(TOOLS)/rust-aarch64; \
	ln -s /usr/lib/rustlib/x86_64-unknown-linux-gnu $(TOOLS)/sysroot/lib/rustlib/x86_64-unknown-linux-gnu; \
	ln -s $(TOOLS)/rust-aarch64/usr/lib/rustlib/aarch64-unknown-linux-gnu $(TOOLS)/sysroot/lib/rustlib/aarch64-unknown-linux-gnu; \
	ln -sf /usr/bin/cargo $(TOOLS)/bin/cargo; \
	printf '#!/bin/sh\nexec /usr/bin/rustc --sysroot "%s" "$$@"\n' "$(TOOLS)/sysroot" > $(TOOLS)/bin/rustc; \
	chmod +x $(TOOLS)/bin/rustc; \
	$(TOOLS)/bin/rustc -vV
	touch $@

$(TOOLS)/.venv-ok:
	$(PYTHON) -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION) \
	  cargo-lambda==$(CARGO_LAMBDA_VERSION) ziglang==$(ZIGLANG_VERSION)
	touch $@

# samconfig.toml's [default.build.parameters] apply; every function's bootstrap must be there.
build: build-tools
	set -eu -o pipefail; \
	echo "build: the $(BUILD_ROUTE_CHOSEN) route"; \
	export $(BUILD_ENV) SAM_CLI_TELEMETRY=0 ZIG_GLOBAL_CACHE_DIR="$(TOOLS)/zig-cache"; \
	time sam build --template-file template.yaml </dev/null; \
	want=$$(grep -c 'BuildMethod: rust-cargolambda' template.yaml); n=0; \
	for f in .aws-sam/build/*/bootstrap; do \
	  file "$$f" | grep -q 'ARM aarch64' || { echo "$$f is not an arm64 binary"; exit 1; }; \
	  echo "$$f $$(du -k "$$f" | cut -f1) KiB"; n=$$((n + 1)); done; \
	[ "$$n" -eq "$$want" ] || { echo "$$n bootstraps for $$want functions"; exit 1; }; \
	echo "$$n arm64 bootstraps ($(BUILD_ROUTE_CHOSEN) route)"

## The build route's choice with stub rustups (offline, seconds): infra/build/route_test.sh.
build-route-test:
	infra/build/route_test.sh

## docs/deploy.md's commands that need no AWS account, as written, against a local stack
## and its emulator: the secrets, the queue, the channel item, the smoke test; and what
## the AWS-only ones rely on (infra/build/deploy_doc_test.sh; about a minute once built).
deploy-doc-test: venv
	CARGO="$(CARGO)" VENV="$(VENV)" infra/build/deploy_doc_test.sh

clean:
	rm -rf $(VENV) .tools .aws-sam target
