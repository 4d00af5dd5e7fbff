# The published contract (docs/API.md). Included from the top-level Makefile.
#   make openapi       regenerate docs/openapi.json from the code (a test fails when it drifts)
#   make schemathesis  fuzz the local API against that document as several callers

.PHONY: openapi schemathesis

openapi:
	$(CARGO) run --quiet -p abev-local -- openapi > docs/openapi.json

schemathesis:
	scripts/with-services.sh scripts/schemathesis.sh
