//! Sends the spec §2 worked example to the orders queue.

/// The five order messages of the worked example (copied from the team folder).
pub const WORKED_EXAMPLE: [(&str, &str); 5] = [
    ("O-1", include_str!("../../../tests/fixtures/worked-example/O-1.json")),
    ("O-2", include_str!("../../../tests/fixtures/worked-example/O-2.json")),
    ("O-3", include_str!("../../../tests/fixtures/worked-example/O-3.json")),
    ("O-4", include_str!("../../../tests/fixtures/worked-example/O-4.json")),
    ("O-5", include_str!("../../../tests/fixtures/worked-example/O-5.json")),
];

pub async fn send_worked_example(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<usize, String> {
    for (_, body) in WORKED_EXAMPLE {
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    }
    Ok(WORKED_EXAMPLE.len())
}
