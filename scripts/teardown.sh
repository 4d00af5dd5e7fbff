#!/usr/bin/env bash
# Removes a stack (docs/DEPLOY.md "Teardown"): empties the web page's versioned bucket
# (every version and delete marker: CloudFormation cannot delete a bucket that holds any),
# then deletes the stack and waits. What it keeps, on purpose: the table (DeletionPolicy
# Retain + deletion protection: memberships, decisions, the audit trail), the downloads
# bucket (product files), and the Cognito user pool (Retain + deletion protection: the
# accounts). docs/DEPLOY.md "Teardown" says how to remove those by hand.
#
# Usage: STACK=<stack name> make teardown        (asks for the stack name again to confirm)
set -euo pipefail
: "${STACK:?set STACK to the stack name}"
output() {
  aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
web_bucket="$(output WebBucketName)"
table="$(output TableName)"
downloads="$(output DownloadsBucketName || true)"
cat <<MSG
teardown: deletes stack $STACK and empties its web bucket $web_bucket.
teardown: KEEPS table $table, downloads bucket ${downloads:-none}, and the Cognito user pool (if any).
MSG
printf 'teardown: type the stack name to go on: '
read -r answer
[ "$answer" = "$STACK" ] || { echo "teardown: nothing deleted"; exit 1; }
empty_versions() {
  while :; do
    batch="$(aws s3api list-object-versions --bucket "$1" --max-items 500 --output json \
      --query '{Objects: [Versions, DeleteMarkers][][].{Key: Key, VersionId: VersionId}}')"
    [ "$(echo "$batch" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Objects"] or []))')" = 0 ] && break
    aws s3api delete-objects --bucket "$1" --delete "$batch" >/dev/null
  done
}
empty_versions "$web_bucket"
aws cloudformation delete-stack --stack-name "$STACK"
aws cloudformation wait stack-delete-complete --stack-name "$STACK"
echo "teardown: $STACK deleted. Kept: table $table (aws dynamodb update-table --table-name $table --no-deletion-protection-enabled, then delete-table, to remove it), bucket ${downloads:-none}."
