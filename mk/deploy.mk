# Deployment targets (docs/DEPLOY.md). Included from the top-level Makefile.
#   make validate   sam validate --lint on template.yaml, offline, no AWS credentials
#   make package    the three Lambda zips with cargo-lambda into target/lambda/<arch>/
#                   (ABEV_ARCH=x86_64 make package for x86_64; ~10 min release build)

SAM_VENV ?= .local/sam-venv

.PHONY: validate package install-sam

install-sam:
	scripts/install-sam.sh

validate:
	scripts/install-sam.sh sam
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

package:
	scripts/package.sh
