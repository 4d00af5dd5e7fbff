//! AWS clients, built once per process from one `SdkConfig`.

use crate::store::metrics::CallCounter;

/// Loads the SDK configuration from the environment. `AWS_ENDPOINT_URL` (set by the local
/// stack) points every client at the local emulators.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB client whose calls are counted per unit of work (see `store::metrics`).
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(config).interceptor(CallCounter).build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// Clients for the local stack: DynamoDB Local and moto's SQS, with dummy credentials.
pub fn local_clients(dynamodb_url: &str, sqs_url: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let creds = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "abev-local");
    let region = aws_sdk_dynamodb::config::Region::new("us-east-1");
    let ddb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(region.clone())
        .credentials_provider(creds.clone())
        .endpoint_url(dynamodb_url)
        .interceptor(CallCounter)
        .build();
    let sqs = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "abev-local"))
        .endpoint_url(sqs_url)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(ddb), aws_sdk_sqs::Client::from_conf(sqs))
}
