//! `make bench` (the `abev-bench` binary): DynamoDB cost and local latency of the HTTP API
//! and of ingestion in a realistic world, beside the emulator's raw speed measured in the
//! same run. See `docs/benchmark-notes.md` for what each column means.

pub mod api;
pub mod meter;
pub mod stats;
pub mod world;

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Local clients as `abev::aws::local_clients` builds them (the call counter on DynamoDB),
/// plus the bench's write meter.
pub fn clients(dynamodb_url: &str, sqs_url: &str, meter: &meter::WriteMeter) -> abev::app::Clients {
    let ddb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "abev-bench"))
        .endpoint_url(dynamodb_url)
        .interceptor(abev::store::metrics::CallCounter)
        .interceptor(meter.clone())
        .build();
    let sqs = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "abev-bench"))
        .endpoint_url(sqs_url)
        .build();
    abev::app::Clients { dynamodb: aws_sdk_dynamodb::Client::from_conf(ddb), sqs: aws_sdk_sqs::Client::from_conf(sqs) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_what_a_query_cannot_hold() {
        assert_eq!(super::encode("k1.ab-_c.d=+/"), "k1.ab-_c.d%3D%2B%2F");
    }
}
