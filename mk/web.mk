# The web page (docs/WEB.md). Included from the top-level Makefile.
#   make test-browser   the page's tests in headless Chromium against a local stack of their own
#   make lint           ESLint over web/ and tests/browser (also part of make test)
#   make web-size       the shipped files of web/ and their gzipped size (there is no build step)

.PHONY: test-browser install-browser web-size lint

install-browser:
	@scripts/install-browser.sh

test-browser:
	@scripts/test-browser.sh

web-size:
	@total=0; for f in $$(find web -type f | sort); do \
	  raw=$$(wc -c <"$$f"); gz=$$(gzip -9c "$$f" | wc -c); total=$$((total + gz)); \
	  printf '%-22s %7d bytes  %6d gzipped\n' "$$f" "$$raw" "$$gz"; done; \
	  printf 'total gzipped: %d bytes\n' "$$total"

## lint: ESLint (flat config) over the web page and the browser tests; part of `make test`.
lint:
	@scripts/lint.sh
