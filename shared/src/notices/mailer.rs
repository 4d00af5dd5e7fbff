//! Sending a digest: the `Mailer` seam (SES in the function and locally through moto; tests
//! wrap it to throttle or die), and SES's answers classified once.
//!
//! SES has no idempotency key: a send whose answer is lost may have gone out. The SES client is
//! built with the SDK's retries off, so the SDK never sends a second copy of a message whose
//! first attempt timed out; only a throttled attempt (SES refused it: nothing was sent) is
//! tried again, here, with backoff.

use super::digest::OutgoingMail;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why a send failed: whether the message may have gone out decides what the caller may do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// SES refused for rate (`TooManyRequestsException`, `LimitExceededException`): not sent.
    #[error("SES throttled the send: {0}")]
    Throttled(String),
    /// SES refused the message (unverified sender, rejected content, paused account): not sent.
    #[error("SES refused the message ({code}): {message}")]
    Refused { code: String, message: String },
    /// No answer (timeout, connection lost): it may or may not have been sent.
    #[error("SES did not answer: {0}")]
    Unknown(String),
}

/// The future a mailer returns: SES's message id.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SendError>> + Send + 'a>>;

/// Sends one digest.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a>;
}

/// SES (API v2) from a verified identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    pub client: aws_sdk_sesv2::Client,
    /// The `From` address: a verified SES identity (or an address of a verified domain).
    pub from: String,
    /// Throttled attempts per message before the send is left to the next run.
    pub attempts: u32,
}

/// The code of SES errors that mean "not now": nothing was sent.
const THROTTLED: &[&str] = &["TooManyRequestsException", "LimitExceededException", "ThrottlingException", "Throttling"];

/// SES's answer as a [`SendError`].
pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(err: &SdkError<E, R>) -> SendError {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let (code, message) = (e.code().unwrap_or("").to_string(), e.message().unwrap_or("").to_string());
            if THROTTLED.contains(&code.as_str()) {
                SendError::Throttled(format!("{code}: {message}"))
            } else {
                SendError::Refused { code, message }
            }
        }
        // Built locally and never sent.
        SdkError::ConstructionFailure(_) => SendError::Refused { code: "ConstructionFailure".into(), message: format!("{err:?}") },
        other => SendError::Unknown(format!("{other:?}").chars().take(300).collect()),
    }
}

/// SES's client for the function: the SDK never retries a send (see the module's comment).
pub fn ses_client(config: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    let conf = aws_sdk_sesv2::config::Builder::from(config)
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_sesv2::Client::from_conf(conf)
}

/// SES's client for moto (local host, tests): dummy credentials, no SDK retries.
pub fn local_ses_client(endpoint: &str) -> aws_sdk_sesv2::Client {
    let conf = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new("local", "local", None, None, "abev-local"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_sesv2::Client::from_conf(conf)
}

/// Makes `address` a verified identity (moto: at once; AWS: sends the verification e-mail).
pub async fn verify_identity(client: &aws_sdk_sesv2::Client, address: &str) -> Result<(), SendError> {
    match client.create_email_identity().email_identity(address).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("AlreadyExistsException") => Ok(()),
        Err(e) => Err(classify(&e)),
    }
}

impl SesMailer {
    async fn send_once(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        let refused = |what: &str, e: String| SendError::Refused { code: "BuildError".into(), message: format!("{what}: {e}") };
        let text = Content::builder().data(&mail.text).charset("UTF-8").build().map_err(|e| refused("text", e.to_string()))?;
        let subject = Content::builder().data(&mail.subject).charset("UTF-8").build().map_err(|e| refused("subject", e.to_string()))?;
        let header =
            |name: &str, value: &str| MessageHeader::builder().name(name).value(value).build().map_err(|e| refused(name, e.to_string()));
        let message = Message::builder()
            .subject(subject)
            .body(Body::builder().text(text).build())
            .headers(header("List-Unsubscribe", &format!("<{}>", mail.unsubscribe_url))?)
            .headers(header("X-ABEV-Digest", &mail.digest_id)?)
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(mail.to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(async move {
            let mut pause = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                match self.send_once(mail).await {
                    Err(SendError::Throttled(reason)) if attempt < self.attempts => {
                        tracing::warn!(attempt, %reason, "SES throttled a digest; trying again");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        })
    }
}
