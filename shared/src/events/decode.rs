//! A DynamoDB Stream record (as Lambda hands it over) as a typed change of one item: which
//! item (its keys), how (insert, modify, remove), its images before and after, its sequence
//! number (the batch-failure identifier) and when it happened. Pure.

use crate::store::keys::{self, Item};
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One item's change, as the stream reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    pub pk: String,
    pub sk: String,
    /// The item before the change (`None` for an insert).
    pub old: Option<Item>,
    /// The item after the change (`None` for a remove).
    pub new: Option<Item>,
    /// The record's sequence number: what a partial batch failure names.
    pub sequence_number: String,
    /// When the change happened (the record's approximate creation time, whole seconds).
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {sequence_number}: {problem}")]
pub struct DecodeError {
    pub sequence_number: String,
    pub problem: String,
}

fn image(item: &serde_dynamo::Item) -> Option<Item> {
    if item.is_empty() {
        return None;
    }
    let map: HashMap<String, AttributeValue> = item.clone().into();
    Some(map)
}

/// Reads one Lambda stream record. A record without a sequence number, a known event name or
/// the table's keys is not one this table's stream produces: an error.
pub fn decode(record: &EventRecord) -> Result<Change, DecodeError> {
    let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
    let err = |problem: String| DecodeError { sequence_number: sequence_number.clone(), problem };
    if sequence_number.is_empty() {
        return Err(err("no sequence number".into()));
    }
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        other => return Err(err(format!("unknown event name {other:?}"))),
    };
    let keys = image(&record.change.keys).unwrap_or_default();
    let key = |name: &str| keys.get(name).and_then(|v| v.as_s().ok()).cloned();
    let (Some(pk), Some(sk)) = (key(keys::PK), key(keys::SK)) else {
        return Err(err("the record's keys lack pk or sk".into()));
    };
    let at = OffsetDateTime::from_unix_timestamp(record.change.approximate_creation_date_time.timestamp())
        .map_err(|e| err(format!("creation time: {e}")))?;
    Ok(Change {
        kind,
        pk,
        sk,
        old: image(&record.change.old_image),
        new: image(&record.change.new_image),
        sequence_number: sequence_number.clone(),
        at,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A Lambda stream record as JSON, the way Lambda delivers it.
    pub(crate) fn record(
        name: &str,
        seq: &str,
        keys: serde_json::Value,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
    ) -> EventRecord {
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1_796_000_000.0,
            "Keys": keys,
            "SequenceNumber": seq,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        serde_json::from_value(json!({
            "awsRegion": "us-east-1", "eventID": format!("e{seq}"), "eventName": name, "eventSource": "aws:dynamodb",
            "eventVersion": "1.1", "dynamodb": dynamodb
        }))
        .unwrap()
    }

    #[test]
    fn a_record_decodes_to_its_keys_images_and_time() {
        let keys = json!({"pk": {"S": "CONTACT#a@b.example"}, "sk": {"S": "MEMBER#ACME-1"}});
        let new = json!({"pk": {"S": "CONTACT#a@b.example"}, "sk": {"S": "MEMBER#ACME-1"}, "role": {"S": "user"}});
        let change = decode(&record("INSERT", "100", keys, None, Some(new))).unwrap();
        assert_eq!((change.kind, change.pk.as_str(), change.sk.as_str()), (ChangeKind::Insert, "CONTACT#a@b.example", "MEMBER#ACME-1"));
        assert!(change.old.is_none());
        assert_eq!(change.new.unwrap()["role"].as_s().unwrap(), "user");
        assert_eq!(change.at.unix_timestamp(), 1_796_000_000);
    }

    #[test]
    fn a_record_without_keys_or_with_an_unknown_name_is_refused() {
        let keys = json!({"pk": {"S": "X"}, "sk": {"S": "Y"}});
        assert!(decode(&record("TRUNCATE", "1", keys, None, None)).is_err());
        assert!(decode(&record("INSERT", "1", json!({"pk": {"S": "X"}}), None, None)).is_err());
    }
}
