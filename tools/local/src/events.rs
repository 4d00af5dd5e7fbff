//! The change-events function on this machine (issue 20): reads DynamoDB Local's stream of
//! the table the way the Lambda event source mapping reads the real one — per shard, oldest
//! record first, batches of up to 100, and after a reported failure again from the failed
//! record — hands each batch to `abev::events::EventsHandler`, which publishes to moto's
//! EventBridge. Each published event is also copied to a local tap queue
//! (`{stack}-events-tap`, not in template.yaml) that `abev-local events --follow` prints:
//! the pinned moto cannot deliver to rule targets (its targets need `jsonpath-ng`), so the
//! tap stands in for "a rule that sends everything to a queue".

use abev::events::publish::{EventBridgePublisher, PublishError, PublishPolicy, Publisher};
use abev::events::{ChangeEvent, EventsHandler};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Records per GetRecords call (the event source mapping's default batch size).
pub const BATCH_SIZE: i32 = 100;

fn sdk_err(e: impl std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// The tap queue's name for a stack.
pub fn tap_queue_name(stack: &str) -> String {
    format!("{stack}-events-tap")
}

/// Publishes to EventBridge, then copies what was taken to the tap queue.
#[derive(Debug, Clone)]
pub struct TapPublisher {
    pub bus: EventBridgePublisher,
    pub sqs: aws_sdk_sqs::Client,
    pub tap_url: String,
}

impl Publisher for TapPublisher {
    async fn put(&self, events: &[&ChangeEvent]) -> Result<Vec<Option<String>>, PublishError> {
        let outcomes = self.bus.put(events).await?;
        let entries: Vec<_> = events
            .iter()
            .zip(&outcomes)
            .enumerate()
            .filter(|(_, (_, failed))| failed.is_none())
            .filter_map(|(i, (e, _))| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id(format!("e{i}")).message_body(e.detail()).build().ok()
            })
            .collect();
        if !entries.is_empty() {
            if let Err(e) = self.sqs.send_message_batch().queue_url(&self.tap_url).set_entries(Some(entries)).send().await {
                tracing::warn!(error = %sdk_err(e), "copying published events to the local tap failed");
            }
        }
        Ok(outcomes)
    }
}

/// Clients for the local events function (moto's EventBridge answers on its SQS port).
pub fn clients(dynamodb_url: &str, moto_url: &str) -> (aws_sdk_dynamodbstreams::Client, aws_sdk_eventbridge::Client) {
    let streams = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new("local", "local", None, None, "abev-local"))
        .endpoint_url(dynamodb_url)
        .build();
    let events = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new("local", "local", None, None, "abev-local"))
        .endpoint_url(moto_url)
        .build();
    (aws_sdk_dynamodbstreams::Client::from_conf(streams), aws_sdk_eventbridge::Client::from_conf(events))
}

/// The stack's bus (named like the table) and tap queue on moto; the table's stream on
/// (a table created before streams were in template.yaml gets one). Returns the tap's URL.
pub async fn prepare(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    eventbridge: &aws_sdk_eventbridge::Client,
    table: &str,
    bus: &str,
) -> Result<String, String> {
    let described = ddb.describe_table().table_name(table).send().await.map_err(sdk_err)?;
    let streaming = described.table().and_then(|t| t.stream_specification()).is_some_and(|s| s.stream_enabled());
    if !streaming {
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
            .build()
            .map_err(sdk_err)?;
        ddb.update_table().table_name(table).stream_specification(spec).send().await.map_err(sdk_err)?;
    }
    if let Err(e) = eventbridge.create_event_bus().name(bus).send().await {
        if !e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) {
            return Err(format!("creating event bus {bus}: {}", sdk_err(e)));
        }
    }
    let tap = sqs.create_queue().queue_name(tap_queue_name(bus)).send().await.map_err(sdk_err)?;
    tap.queue_url.ok_or_else(|| "no tap queue URL".to_string())
}

/// A stream record as Lambda hands it to the function (the same JSON, read the same way).
pub fn to_lambda_record(record: &Record) -> Result<EventRecord, String> {
    let d = record.dynamodb().ok_or("a stream record without its change")?;
    let image = |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        m.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone()))).transpose().map_err(|e| e.to_string())
    };
    let mut change = serde_json::json!({
        "ApproximateCreationDateTime": d.approximate_creation_date_time().map(|t| t.secs()).unwrap_or_default() as f64,
        "Keys": image(d.keys())?,
        "SequenceNumber": d.sequence_number(),
        "SizeBytes": d.size_bytes().unwrap_or_default(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = image(d.new_image())? {
        change["NewImage"] = new;
    }
    if let Some(old) = image(d.old_image())? {
        change["OldImage"] = old;
    }
    let json = serde_json::json!({
        "awsRegion": record.aws_region().unwrap_or("us-east-1"),
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventSource": "aws:dynamodb",
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "dynamodb": change,
    });
    serde_json::from_value(json).map_err(|e| format!("stream record as a Lambda record: {e}"))
}

/// Reads one table's stream, shard by shard, like the event source mapping.
#[derive(Debug)]
pub struct StreamSource {
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub table: String,
    /// Shard id → where the next read starts (`None`: the shard is closed and read).
    positions: BTreeMap<String, Option<String>>,
    stream_arn: Option<String>,
}

impl StreamSource {
    pub fn new(streams: aws_sdk_dynamodbstreams::Client, table: &str) -> StreamSource {
        StreamSource { streams, table: table.to_string(), positions: BTreeMap::new(), stream_arn: None }
    }

    async fn arn(&mut self) -> Result<String, String> {
        if let Some(arn) = &self.stream_arn {
            return Ok(arn.clone());
        }
        let listed = self.streams.list_streams().table_name(&self.table).send().await.map_err(sdk_err)?;
        let arn = listed
            .streams()
            .iter()
            .filter_map(|s| s.stream_arn())
            .next_back()
            .ok_or_else(|| format!("table {} has no stream (StreamSpecification in template.yaml)", self.table))?
            .to_string();
        self.stream_arn = Some(arn.clone());
        Ok(arn)
    }

    async fn iterator(&self, arn: &str, shard: &str, kind: ShardIteratorType, at: Option<&str>) -> Result<Option<String>, String> {
        let got = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(at.map(str::to_string))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(got.shard_iterator)
    }

    /// New shards start at their oldest record (TRIM_HORIZON).
    async fn discover(&mut self) -> Result<String, String> {
        let arn = self.arn().await?;
        let described = self.streams.describe_stream().stream_arn(&arn).send().await.map_err(sdk_err)?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| d.shards().iter().filter_map(|s| s.shard_id().map(str::to_string)).collect())
            .unwrap_or_default();
        for shard in shards {
            if !self.positions.contains_key(&shard) {
                let it = self.iterator(&arn, &shard, ShardIteratorType::TrimHorizon, None).await?;
                self.positions.insert(shard, it);
            }
        }
        Ok(arn)
    }

    /// Reads the next batch of every open shard (nothing is handed to a function).
    pub async fn read(&mut self) -> Result<Vec<(String, Vec<EventRecord>, Option<String>)>, String> {
        self.discover().await?;
        let mut out = Vec::new();
        for (shard, position) in self.positions.clone() {
            let Some(iterator) = position else { continue };
            let got = self.streams.get_records().shard_iterator(iterator).limit(BATCH_SIZE).send().await.map_err(sdk_err)?;
            let records = got.records().iter().map(to_lambda_record).collect::<Result<Vec<_>, _>>()?;
            out.push((shard, records, got.next_shard_iterator));
        }
        Ok(out)
    }

    /// Moves a shard on after a [`StreamSource::read`] (`next`: its next iterator).
    pub fn advance(&mut self, shard: &str, next: Option<String>) {
        self.positions.insert(shard.to_string(), next);
    }

    /// One round: each shard's next batch goes to `handler`; a reported failure makes the
    /// shard start again at the failed record. Returns how many records were handed over.
    pub async fn poll_once<P: Publisher>(&mut self, handler: &EventsHandler<P>) -> Result<usize, String> {
        let arn = self.discover().await?;
        let mut handed = 0;
        for (shard, records, next) in self.read().await? {
            if records.is_empty() {
                self.positions.insert(shard, next);
                continue;
            }
            handed += records.len();
            let mut batch = Event::default();
            batch.records = records;
            let response = handler.handle_batch(batch).await;
            let position = match response.batch_item_failures.first().and_then(|f| f.item_identifier.clone()) {
                Some(failed) => self.iterator(&arn, &shard, ShardIteratorType::AtSequenceNumber, Some(&failed)).await?,
                None => next,
            };
            self.positions.insert(shard, position);
        }
        Ok(handed)
    }

    /// Polls until the stream has nothing new (tests, `make dev` start-up).
    pub async fn drain<P: Publisher>(&mut self, handler: &EventsHandler<P>) -> Result<usize, String> {
        let mut total = 0;
        for _ in 0..10_000 {
            match self.poll_once(handler).await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
        Err("the stream never drained".into())
    }

    /// Polls every `every` until `stop` resolves (`make dev`).
    pub async fn run<P: Publisher>(&mut self, handler: &EventsHandler<P>, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let result = tokio::select! {
                _ = &mut stop => return,
                result = self.poll_once(handler) => result,
            };
            let wait = match result {
                Ok(0) => every,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, table = %self.table, "reading the table's stream failed; retrying");
                    Duration::from_secs(2)
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The local events function for a stack: its handler (moto's EventBridge + the tap) and
/// its stream source.
pub async fn local(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    dynamodb_url: &str,
    moto_url: &str,
    table: &str,
) -> Result<(EventsHandler<TapPublisher>, StreamSource), String> {
    let (streams, eventbridge) = clients(dynamodb_url, moto_url);
    let tap_url = prepare(ddb, sqs, &eventbridge, table, table).await?;
    let handler = EventsHandler {
        store: abev::store::Store::new(ddb.clone(), table),
        publisher: TapPublisher { bus: EventBridgePublisher::new(eventbridge, table), sqs: sqs.clone(), tap_url },
        policy: PublishPolicy::default(),
    };
    Ok((handler, StreamSource::new(streams, table)))
}

/// Prints the events on the tap queue, one JSON object a line; with `follow`, keeps waiting.
pub async fn follow(sqs: &aws_sdk_sqs::Client, tap_url: &str, follow: bool) -> Result<usize, String> {
    let mut printed = 0;
    loop {
        let got = sqs
            .receive_message()
            .queue_url(tap_url)
            .max_number_of_messages(10)
            .wait_time_seconds(if follow { 20 } else { 0 })
            .send()
            .await
            .map_err(sdk_err)?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() && !follow {
            return Ok(printed);
        }
        for m in messages {
            println!("{}", m.body().unwrap_or_default());
            printed += 1;
            if let Some(handle) = m.receipt_handle() {
                let _ = sqs.delete_message().queue_url(tap_url).receipt_handle(handle).send().await;
            }
        }
    }
}
