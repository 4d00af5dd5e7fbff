//! AWS clients, built once per process from one `SdkConfig`.

use crate::store::faults::{FaultInjector, FaultPlan};
use crate::store::metrics::CallCounter;
use std::sync::Arc;

/// The shared injector as an interceptor (tests keep a handle to change its plan).
#[derive(Debug)]
struct SharedFaults(Arc<FaultInjector>);

impl aws_sdk_dynamodb::config::Intercept for SharedFaults {
    fn name(&self) -> &'static str {
        "abev-fault-injector"
    }
    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.modify_before_transmit(context, components, cfg)
    }
    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.modify_before_deserialization(context, components, cfg)
    }
}

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
/// `ABEV_FAULTS` (see [`crate::store::faults`]) makes DynamoDB Local fail like AWS.
pub fn local_clients(dynamodb_url: &str, sqs_url: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let faults = std::env::var("ABEV_FAULTS").ok().filter(|f| !f.trim().is_empty()).map(|spec| {
        let plan = FaultPlan::parse(&spec).unwrap_or_else(|e| panic!("ABEV_FAULTS: {e}"));
        tracing::warn!(?plan, "injecting DynamoDB faults (ABEV_FAULTS)");
        Arc::new(FaultInjector::new(plan))
    });
    local_clients_with(dynamodb_url, sqs_url, faults, None)
}

/// Local clients with a fault injector and, optionally, the SDK's own attempts per call
/// (`Some(1)`: the SDK never retries, as when its retry quota is spent, so every fault
/// reaches the store's own retries).
pub fn local_clients_with(
    dynamodb_url: &str,
    sqs_url: &str,
    faults: Option<Arc<FaultInjector>>,
    sdk_attempts: Option<u32>,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let creds = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "abev-local");
    let region = aws_sdk_dynamodb::config::Region::new("us-east-1");
    let ddb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(region.clone())
        .credentials_provider(creds.clone())
        .endpoint_url(dynamodb_url)
        .interceptor(CallCounter);
    let ddb = match faults {
        Some(injector) => ddb.interceptor(SharedFaults(injector)),
        None => ddb,
    };
    let ddb = match sdk_attempts {
        Some(n) => ddb.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(n)),
        None => ddb,
    };
    let ddb = ddb.build();
    let sqs = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "abev-local"))
        .endpoint_url(sqs_url)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(ddb), aws_sdk_sqs::Client::from_conf(sqs))
}
