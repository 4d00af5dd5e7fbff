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
