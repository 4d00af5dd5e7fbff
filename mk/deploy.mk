# Deployment targets (docs/DEPLOY.md). Included from the top-level Makefile.

SAM_VENV ?= .local/sam-venv

.PHONY: validate package install-sam publish-web bench-coldstart redrive teardown deploy

## install-sam: install the SAM CLI and cargo-lambda (PyPI) into .local/.
install-sam:
	scripts/install-sam.sh

## validate: `sam validate --lint` on template.yaml (offline, no AWS credentials).
validate:
	scripts/install-sam.sh sam
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

## package: the three Lambda zips with cargo-lambda into target/lambda/<arch>/
##   (ABEV_ARCH=x86_64 for x86_64; a ~14 min release build).
package:
	scripts/package.sh

## bench-coldstart: start-to-ready time of the packaged x86_64 bootstraps (after ABEV_ARCH=x86_64 make package).
bench-coldstart:
	scripts/bench-coldstart.sh

## publish-web: write config.json from a deployed stack's outputs and sync web/ to its
##   bucket, then invalidate CloudFront (STACK=<stack name>; needs the AWS CLI).
publish-web:
	scripts/publish-web.sh

## redrive: replay a DLQ into its source queue (STACK=<stack>; QUEUE=care for the Care DLQ):
##   shows every message and its abev-error first, moves only after you type yes.
redrive:
	scripts/redrive.sh

## teardown: delete a stack (STACK=<stack>): empties the versioned web bucket, keeps the
##   table, the downloads bucket and a protected user pool (docs/DEPLOY.md "Teardown").
teardown:
	scripts/teardown.sh

## deploy: one workspace build (make package), then `sam deploy` of those zips (no sam build:
##   it would build each function apart and cache by folder; docs/DEPLOY.md "Build and deploy").
deploy:
	scripts/deploy.sh
