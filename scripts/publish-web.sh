#!/usr/bin/env bash
# `make publish-web`: publishes the web page (web/) to a deployed stack.
#   1. reads the stack's outputs (WebBucketName, WebDistributionId, WebConfig*),
#   2. writes config.json from them beside index.html, in a staging copy of web/,
#   3. syncs the staging copy to the private bucket (deleting what web/ no longer has),
#   4. invalidates the CloudFront cache so the new page is served at once.
# Needs the AWS CLI (v2) with credentials for the stack's account and region.
#
# Usage: STACK=abev-prod scripts/publish-web.sh     (or make publish-web STACK=abev-prod)
#        ABEV_WEB_DIR=path  publishes another directory (default: web/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stack="${STACK:-}"
web_dir="${ABEV_WEB_DIR:-$root/web}"
[ -n "$stack" ] || { echo "publish-web: set STACK to the deployed stack's name (make publish-web STACK=abev-prod)" >&2; exit 2; }
command -v aws >/dev/null 2>&1 || { echo "publish-web: the AWS CLI is required (https://aws.amazon.com/cli/)" >&2; exit 1; }
[ -f "$web_dir/index.html" ] || { echo "publish-web: $web_dir/index.html not found" >&2; exit 1; }

outputs="$(aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json)"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

# Copy the page, leaving out what is not served (dependencies, tests, notes, a local config).
tar -C "$web_dir" --exclude=node_modules --exclude=tests --exclude='*.test.*' --exclude='*.md' \
  --exclude=package.json --exclude=package-lock.json --exclude=config.json -cf - . | tar -C "$staging" -xf -

# config.json: the shape web/js/auth.js reads ({"api_base", "auth": {"mode": "oidc", ...}}).
read -r bucket distribution < <(OUTPUTS="$outputs" python3 - "$staging/config.json" <<'PY'
import json, os, sys
o = {x["OutputKey"]: x["OutputValue"] for x in json.loads(os.environ["OUTPUTS"])}
need = ["WebBucketName", "WebDistributionId", "WebConfigApiBase", "WebConfigIssuer", "WebConfigClientId",
        "WebConfigAuthorizeEndpoint", "WebConfigTokenEndpoint", "WebConfigRedirectUri", "WebConfigScope"]
missing = [k for k in need if not o.get(k)]
if missing:
    sys.exit(f"publish-web: the stack has no (or empty) outputs {missing}: deploy the current template.yaml "
             "(with an external JwtIssuer, also set JwtAudience, OidcAuthorizeEndpoint and OidcTokenEndpoint)")
config = {
    "api_base": o["WebConfigApiBase"],
    "auth": {
        "mode": "oidc",
        "issuer": o["WebConfigIssuer"],
        "client_id": o["WebConfigClientId"],
        "authorize_endpoint": o["WebConfigAuthorizeEndpoint"],
        "token_endpoint": o["WebConfigTokenEndpoint"],
        "redirect_uri": o["WebConfigRedirectUri"],
        "scope": o["WebConfigScope"],
    },
}
with open(sys.argv[1], "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
print(o["WebBucketName"], o["WebDistributionId"])
PY
)
echo "publish-web: config.json for stack $stack:"
cat "$staging/config.json"

# index.html and config.json are revalidated on every load; the rest may be cached for an hour.
aws s3 sync "$staging" "s3://$bucket" --delete --exclude index.html --exclude config.json \
  --cache-control "public, max-age=3600"
aws s3 cp "$staging/index.html" "s3://$bucket/index.html" --cache-control "no-cache" --content-type "text/html; charset=utf-8"
aws s3 cp "$staging/config.json" "s3://$bucket/config.json" --cache-control "no-cache" --content-type "application/json"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths "/*" --query 'Invalidation.Id' --output text
echo "publish-web: published $web_dir to s3://$bucket; the page: $(OUTPUTS="$outputs" python3 -c 'import json,os; print({x["OutputKey"]: x["OutputValue"] for x in json.loads(os.environ["OUTPUTS"])}["WebUrl"])')"
