//! For ERP integrators: the parser's verdict on order files, sending them to the local
//! orders queue, and reading what was dead-lettered (with its `abev-error` reason).

use abev::domain::Order;
use aws_sdk_sqs::types::MessageAttributeValue;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The parser's exact verdict on one file: what ingestion would do with its bytes.
pub fn verdict(path: &Path) -> Result<String, String> {
    let body = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let order = Order::parse(&body).map_err(|e| format!("rejected: {e}"))?;
    Ok(format!(
        "ok: order {} version {} ({}), {} line{}",
        order.order_id,
        order.version,
        if order.is_active() { "active" } else { "cancelled" },
        order.lines.len(),
        if order.lines.len() == 1 { "" } else { "s" }
    ))
}

/// `abev-local validate FILE…`: one line per file; `Err` when any file is bad.
pub fn validate(files: &[PathBuf]) -> Result<(), String> {
    let mut bad = 0;
    for file in files {
        match verdict(file) {
            Ok(line) => println!("{}: {line}", file.display()),
            Err(line) => {
                bad += 1;
                println!("{}: {line}", file.display());
            }
        }
    }
    match bad {
        0 => Ok(()),
        n => Err(format!("{n} of {} file{} would be dead-lettered", files.len(), if files.len() == 1 { "" } else { "s" })),
    }
}

/// `abev-local send FILE…`: each file's bytes as one message on the orders queue, as the
/// ERP would send it (a file the parser rejects is sent too: it will be dead-lettered).
pub async fn send(sqs: &aws_sdk_sqs::Client, queue_url: &str, files: &[PathBuf]) -> Result<(), String> {
    let mut bodies = Vec::new();
    for file in files {
        let body = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read as UTF-8 text: {e}", file.display()))?;
        bodies.push((file, body));
    }
    for (file, body) in bodies {
        let sent = sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(&body)
            .send()
            .await
            .map_err(|e| format!("{}: {}", file.display(), aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let note = match verdict(file) {
            Ok(_) => String::new(),
            Err(why) => format!(" (the parser {why}; it will be dead-lettered)"),
        };
        println!("{}: sent as message {}{note}", file.display(), sent.message_id().unwrap_or("?"));
    }
    Ok(())
}

/// One dead-lettered message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// The `abev-error` attribute: why ingestion refused it (absent when SQS moved it after `maxReceiveCount`).
    pub error: Option<String>,
    pub body: String,
}

/// Every message on the dead-letter queue, each read once (they stay hidden for
/// `hide_for` seconds, then reappear, unless `remove`).
pub async fn dead_letters(sqs: &aws_sdk_sqs::Client, dlq_url: &str, hide_for: i32, remove: bool) -> Result<Vec<DeadLetter>, String> {
    let mut found = BTreeMap::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(hide_for)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let error = m
                .message_attributes()
                .and_then(|a| a.get(abev::ingest::ERROR_ATTRIBUTE))
                .and_then(MessageAttributeValue::string_value)
                .map(str::to_string);
            if remove {
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(dlq_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
                }
            }
            let id = m.message_id.clone().unwrap_or_default();
            found.entry(id.clone()).or_insert(DeadLetter { message_id: id, error, body: m.body.unwrap_or_default() });
        }
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_the_parsers() {
        let dir = std::env::temp_dir().join(format!("abev-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, crate::seed::WORKED_EXAMPLE[0].1).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, crate::seed::WORKED_EXAMPLE[0].1.replace("\"version\": 1", "\"version\": 0")).unwrap();
        assert_eq!(verdict(&good).unwrap(), "ok: order O-1 version 1 (active), 3 lines");
        assert_eq!(verdict(&bad).unwrap_err(), "rejected: version: must be an integer >= 1");
        assert!(verdict(&dir.join("missing.json")).unwrap_err().starts_with("cannot read"));
        assert!(validate(std::slice::from_ref(&good)).is_ok());
        assert_eq!(validate(&[good, bad]).unwrap_err(), "1 of 2 files would be dead-lettered");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
