//! Creates the table and queues on the local emulators from `template.yaml`, so the local
//! stack and AWS share one definition. `${AWS::StackName}` becomes the local stack name.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("template: {0}")]
    Template(String),
    #[error("creating {what}: {message}")]
    Create { what: String, message: String },
}

fn template_err(msg: impl Into<String>) -> InfraError {
    InfraError::Template(msg.into())
}

/// Names and URLs of what was created.
#[derive(Debug, Clone)]
pub struct LocalStack {
    pub stack_name: String,
    pub table: String,
    /// Logical resource name (e.g. `OrdersQueue`) → queue URL.
    pub queues: BTreeMap<String, String>,
}

impl LocalStack {
    pub fn queue(&self, logical: &str) -> &str {
        self.queues.get(logical).map(String::as_str).unwrap_or_default()
    }
    pub fn orders_queue(&self) -> &str {
        self.queue("OrdersQueue")
    }
    pub fn orders_dlq(&self) -> &str {
        self.queue("OrdersDeadLetterQueue")
    }
    pub fn care_queue(&self) -> &str {
        self.queue("CareQueue")
    }
    pub fn care_dlq(&self) -> &str {
        self.queue("CareDeadLetterQueue")
    }

    /// The access function's settings on this stack (what template.yaml gives it in AWS).
    pub fn access_settings(&self, cursor_secret: &str, admin_sla_days: u64) -> abev::settings::AccessSettings {
        abev::settings::AccessSettings {
            table: self.table.clone(),
            cursor_secret: cursor_secret.to_string(),
            care_queue_url: self.care_queue().to_string(),
            admin_sla_days,
        }
    }

    /// The ingestion function's settings on this stack.
    pub fn ingest_settings(&self) -> abev::settings::IngestSettings {
        abev::settings::IngestSettings { table: self.table.clone(), orders_dlq_url: self.orders_dlq().to_string() }
    }
}

/// Resolves `!Sub`, `!Ref AWS::StackName` and plain strings to a string.
fn resolve(value: &Value, stack: &str) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().map(|s| s.replace("${AWS::StackName}", stack)),
        Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::StackName") => Some(stack.to_string()),
        _ => None,
    }
}

fn resources(template: &str) -> Result<Vec<(String, String, Value)>, InfraError> {
    let doc: Value = serde_norway::from_str(template).map_err(|e| template_err(e.to_string()))?;
    let res = doc.get("Resources").and_then(Value::as_mapping).ok_or_else(|| template_err("no Resources"))?;
    Ok(res
        .iter()
        .filter_map(|(k, v)| {
            Some((k.as_str()?.to_string(), v.get("Type")?.as_str()?.to_string(), v.get("Properties").cloned().unwrap_or(Value::Null)))
        })
        .collect())
}

/// Whether a local table gets the stream the template declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStream {
    /// As the template says (`make dev`: the change-events function reads it).
    AsTemplate,
    /// None. DynamoDB Local keeps every stream record it ever wrote — deleting the table does
    /// not drop them — and each write gets slower as they pile up (10,000 puts: 6 s, then
    /// 20 s, then 68 s on one instance; 2-5 s each without a stream). On AWS
    /// a stream costs a write nothing, so a stack whose stream nobody reads leaves it off.
    Off,
}

/// The template's table and queues, named after `stack`, with the table's stream.
pub async fn create(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    template: &str,
    stack: &str,
) -> Result<LocalStack, InfraError> {
    create_with(ddb, sqs, template, stack, TableStream::AsTemplate).await
}

/// The template's table and queues, named after `stack`; the table's stream as `stream` says.
pub async fn create_with(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    template: &str,
    stack: &str,
    stream: TableStream,
) -> Result<LocalStack, InfraError> {
    let resources = resources(template)?;
    let mut table = None;
    for (name, _, props) in resources.iter().filter(|(_, t, _)| t == "AWS::DynamoDB::Table") {
        table = Some(create_table(ddb, name, props, stack, stream).await?);
    }
    let table = table.ok_or_else(|| template_err("no AWS::DynamoDB::Table"))?;
    // Dead-letter queues first: the others name their ARNs.
    let mut queues_in_order: Vec<&(String, String, Value)> = resources.iter().filter(|(_, t, _)| t == "AWS::SQS::Queue").collect();
    queues_in_order.sort_by_key(|(_, _, p)| p.get("RedrivePolicy").is_some());
    let mut urls = BTreeMap::new();
    let mut arns = BTreeMap::new();
    for (name, _, props) in queues_in_order {
        let (url, arn) = create_queue(sqs, name, props, stack, &arns).await?;
        urls.insert(name.clone(), url);
        arns.insert(name.clone(), arn);
    }
    Ok(LocalStack { stack_name: stack.to_string(), table, queues: urls })
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, InfraError> {
    v.as_sequence()
        .ok_or_else(|| template_err("KeySchema is not a list"))?
        .iter()
        .map(|k| {
            let name = k.get("AttributeName").and_then(Value::as_str).ok_or_else(|| template_err("KeySchema without AttributeName"))?;
            let kind = match k.get("KeyType").and_then(Value::as_str) {
                Some("HASH") => KeyType::Hash,
                Some("RANGE") => KeyType::Range,
                other => return Err(template_err(format!("bad KeyType {other:?}"))),
            };
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| template_err(e.to_string()))
        })
        .collect()
}

async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    logical: &str,
    props: &Value,
    stack: &str,
    stream: TableStream,
) -> Result<String, InfraError> {
    let name = props.get("TableName").and_then(|v| resolve(v, stack)).ok_or_else(|| template_err(format!("{logical}: TableName")))?;
    let attrs = props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| template_err("AttributeDefinitions"))?
        .iter()
        .map(|a| {
            let n = a.get("AttributeName").and_then(Value::as_str).ok_or_else(|| template_err("AttributeName"))?;
            let t = match a.get("AttributeType").and_then(Value::as_str) {
                Some("S") => ScalarAttributeType::S,
                Some("N") => ScalarAttributeType::N,
                Some("B") => ScalarAttributeType::B,
                other => return Err(template_err(format!("bad AttributeType {other:?}"))),
            };
            AttributeDefinition::builder().attribute_name(n).attribute_type(t).build().map_err(|e| template_err(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut request = ddb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(props.get("KeySchema").ok_or_else(|| template_err("KeySchema"))?)?));
    for gsi in props.get("GlobalSecondaryIndexes").and_then(Value::as_sequence).into_iter().flatten() {
        let index = gsi.get("IndexName").and_then(Value::as_str).ok_or_else(|| template_err("IndexName"))?;
        let projection = match gsi.get("Projection").and_then(|p| p.get("ProjectionType")).and_then(Value::as_str) {
            Some("KEYS_ONLY") => ProjectionType::KeysOnly,
            _ => ProjectionType::All,
        };
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .set_key_schema(Some(key_schema(gsi.get("KeySchema").ok_or_else(|| template_err("GSI KeySchema"))?)?))
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(|e| template_err(e.to_string()))?,
        );
    }
    // Issue 20: the change-events function reads the table's stream.
    let view = props.get("StreamSpecification").and_then(|s| s.get("StreamViewType")).and_then(Value::as_str);
    if let Some(view) = view.filter(|_| stream == TableStream::AsTemplate) {
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view))
            .build()
            .map_err(|e| template_err(e.to_string()))?;
        request = request.stream_specification(spec);
    }
    match request.send().await {
        Ok(_) => Ok(name),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(name),
        Err(e) => {
            Err(InfraError::Create { what: format!("table {name}"), message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string() })
        }
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    logical: &str,
    props: &Value,
    stack: &str,
    arns: &BTreeMap<String, String>,
) -> Result<(String, String), InfraError> {
    let name = props.get("QueueName").and_then(|v| resolve(v, stack)).ok_or_else(|| template_err(format!("{logical}: QueueName")))?;
    let mut request = sqs.create_queue().queue_name(&name);
    for (prop, attr) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
    ] {
        if let Some(v) = props.get(prop).and_then(|v| resolve(v, stack)) {
            request = request.attributes(attr, v);
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let target = redrive
            .get("deadLetterTargetArn")
            .and_then(|v| match v {
                Value::Tagged(t) if t.tag == "!GetAtt" => t.value.as_str().and_then(|s| s.strip_suffix(".Arn")).map(str::to_string),
                _ => None,
            })
            .ok_or_else(|| template_err(format!("{logical}: deadLetterTargetArn must be !GetAtt <Queue>.Arn")))?;
        let arn = arns.get(&target).ok_or_else(|| template_err(format!("{logical}: unknown dead-letter queue {target}")))?;
        let max = redrive.get("maxReceiveCount").and_then(|v| resolve(v, stack)).unwrap_or_else(|| "5".into());
        let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max.parse::<u32>().unwrap_or(5)});
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let err = |e: String| InfraError::Create { what: format!("queue {name}"), message: e };
    let url = request
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .ok_or_else(|| err("no queue URL returned".into()))?;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().ok_or_else(|| err("no queue ARN".into()))?;
    Ok((url, arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_table_and_queues_from_the_real_template() {
        let template = include_str!("../../../template.yaml");
        let res = resources(template).unwrap();
        let table = res.iter().find(|(_, t, _)| t == "AWS::DynamoDB::Table").unwrap();
        assert_eq!(resolve(table.2.get("TableName").unwrap(), "abev").as_deref(), Some("abev"));
        let queue_names: Vec<String> =
            res.iter().filter(|(_, t, _)| t == "AWS::SQS::Queue").filter_map(|(_, _, p)| resolve(p.get("QueueName")?, "abev")).collect();
        for expected in ["abev-orders", "abev-orders-dlq", "abev-care", "abev-care-dlq"] {
            assert!(queue_names.iter().any(|n| n == expected), "{expected} in {queue_names:?}");
        }
    }
}
