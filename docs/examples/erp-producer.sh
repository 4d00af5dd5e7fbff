#!/usr/bin/env bash
# An ERP producer in a few lines: sends one abev.order.v1 document to the orders queue and
# then reads back what ingestion refused (the orders DLQ, reason in the abev-error
# attribute). Run it as the ERP's role (ErpPrincipalArn); the queue refuses everyone else.
#
# The ERP role's IAM policy (same account; for another account the queue policy already
# names the role, the role's own policy needs the same):
#   {"Version": "2012-10-17", "Statement": [
#     {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "<OrdersQueueArn>"},
#     {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"],
#      "Resource": "<the orders DLQ's ARN>"}]}
# Reading the DLQ with --visibility-timeout 0 leaves the messages there for the operators
# (make redrive); the ERP's fix is a corrected order with a higher version, not a redrive.
#
# Usage: STACK=abev-prod docs/examples/erp-producer.sh order.json
set -euo pipefail
: "${STACK:?set STACK to the stack name}"
order="${1:?usage: $0 ORDER.json}"
output() {
  aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
queue="$(output OrdersQueueUrl)"
dlq="$(output OrdersDeadLetterQueueUrl)"
# One message per order version; the body is the document itself (at most 256 KiB).
aws sqs send-message --queue-url "$queue" --message-body "file://$order" --query MessageId --output text
sleep 20   # ingestion runs within seconds; a rejection is on the DLQ right after
aws sqs receive-message --queue-url "$dlq" --max-number-of-messages 10 --visibility-timeout 0 \
  --message-attribute-names abev-error \
  --query 'Messages[].{order: Body, why: MessageAttributes."abev-error".StringValue}' --output json
