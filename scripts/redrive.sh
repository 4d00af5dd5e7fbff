#!/usr/bin/env bash
# Replays the orders dead-letter queue into the orders queue, after showing what it will
# replay: each message's id, order id and version, and its abev-error (why it was dead-
# lettered). Nothing moves until you answer "yes". The move is SQS's own redrive
# (start-message-move-task), which sends as you: your role must be the stack's
# OrdersOperatorPrincipalArn (the orders queue refuses every other sender).
#
# Usage: STACK=<stack name> make redrive          (QUEUE=care for the Care DLQ)
# Only ingestion and SQS itself can put messages on the DLQ (template.yaml
# OrdersDeadLetterQueuePolicy), so what is shown is what ingestion refused: fix the cause
# first (docs/DEPLOY.md "Alarms"), or the messages come straight back.
set -euo pipefail
: "${STACK:?set STACK to the stack name}"
queue="${QUEUE:-orders}"
case "$queue" in
  orders) dlq_output=OrdersDeadLetterQueueUrl; src_output=OrdersQueueUrl ;;
  care) dlq_output=CareDeadLetterQueueUrl; src_output=CareQueueUrl ;;
  *) echo "redrive: QUEUE must be orders or care" >&2; exit 2 ;;
esac
output() {
  aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
dlq_url="$(output "$dlq_output")"
src_url="$(output "$src_output")"
arn_of() { aws sqs get-queue-attributes --queue-url "$1" --attribute-names QueueArn --query Attributes.QueueArn --output text; }
dlq_arn="$(arn_of "$dlq_url")"
src_arn="$(arn_of "$src_url")"
count="$(aws sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages --output text)"
echo "redrive: $count message(s) on $dlq_url would be replayed into $src_url:"
# A peek: --visibility-timeout 0 leaves each message visible to the move that follows.
for _ in $(seq 1 $(( (count + 9) / 10 ))); do
  aws sqs receive-message --queue-url "$dlq_url" --max-number-of-messages 10 --visibility-timeout 0 \
    --message-attribute-names abev-error --output json \
  | python3 -c '
import json, sys
for m in json.load(sys.stdin).get("Messages", []):
    try:
        body = json.loads(m["Body"])
        what = "order %s v%s" % (body.get("order_id", "?"), body.get("version", "?"))
    except Exception:
        what = "unparseable body (%d bytes)" % len(m["Body"])
    reason = m.get("MessageAttributes", {}).get("abev-error", {}).get("StringValue", "(no abev-error: retries exhausted)")
    print("  %s  %s  abev-error: %s" % (m["MessageId"], what, reason))
'
done
printf 'redrive: replay these into %s? type yes: ' "$src_url"
read -r answer
[ "$answer" = "yes" ] || { echo "redrive: nothing moved"; exit 1; }
aws sqs start-message-move-task --source-arn "$dlq_arn" --destination-arn "$src_arn"
echo "redrive: started; 'aws sqs list-message-move-tasks --source-arn $dlq_arn' shows its progress"
