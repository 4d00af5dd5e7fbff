//! `abev-care`: the Customer Care team's tool. It reads the escalations waiting on the Care
//! queue (spec §5 `abev.care-escalation.v1` messages) and decides requests through the
//! HTTP API with a Care token — a care agent never touches DynamoDB.
//!
//! - `list` receives every waiting message with a short visibility timeout, prints one line
//!   per request (duplicates of a message are folded: they carry the same `request_id`), and
//!   makes the messages visible again at once, so listing hides nothing from colleagues.
//!   Every receive counts toward the queue's `maxReceiveCount`; a message SQS moved to the
//!   Care dead-letter queue is still listed (marked) and acknowledged from there, so no
//!   escalation is lost to repeated listing.
//! - `show ID` prints the request (from `GET /v1/approvals`, else from its queue message)
//!   and the site's current members (`GET /v1/sites/{s}/members`).
//! - `approve ID [--role admin|user]` / `reject ID --reason ...` decide through the API,
//!   then delete every queue message carrying that request id (also when the request was
//!   already decided, 409: the message has nothing left to ask).
//!
//! The queue is the notification channel; the API is the source of truth: the decision is
//! checked and written there, so two agents acting on one message cannot both win.

use abev::domain::Role;
use abev::http::dto::{AccessRequestView, Member};
use abev_client::{ApiClient, ClientError};
use aws_sdk_sqs::types::Message;
pub use clap::Parser;
use clap::Subcommand;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

pub const LOCAL_API: &str = "http://127.0.0.1:3000";
/// moto's URL of the local Care queue (account 123456789012).
pub const LOCAL_QUEUE_URL: &str = "http://127.0.0.1:9324/123456789012/abev-care";
/// Seconds a listing keeps the messages it read hidden (they are released right after).
const LIST_VISIBILITY_SECONDS: i32 = 30;
/// Most messages one pass reads.
const MAX_MESSAGES: usize = 2000;

#[derive(Debug, Parser)]
#[command(name = "abev-care", about = "Customer Care: list escalated access requests, show one, approve or reject it")]
pub struct Cli {
    /// Base URL of the ABEV HTTP API.
    #[arg(long, env = "ABEV_API", default_value = LOCAL_API, global = true)]
    pub api: String,
    /// A bearer token of a Care agent (JWT with the customer-care group).
    #[arg(long, env = "ABEV_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Local stack only: mint a Care token for this e-mail with ABEV_LOCAL_JWT_SECRET.
    #[arg(long, env = "ABEV_CARE_EMAIL", global = true)]
    pub local_care_email: Option<String>,
    /// URL of the Care escalation queue.
    #[arg(long, env = "ABEV_CARE_QUEUE_URL", default_value = LOCAL_QUEUE_URL, global = true)]
    pub queue_url: String,
    /// URL of the Care dead-letter queue (default: the queue URL + `-dlq`).
    #[arg(long, env = "ABEV_CARE_DLQ_URL", global = true)]
    pub dlq_url: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the escalations waiting on the Care queue.
    List,
    /// Show a request and the site's current members.
    Show { request_id: String },
    /// Approve a request (optionally granting another role than requested).
    Approve {
        request_id: String,
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
    },
    /// Reject a request, with the reason the requester will see.
    Reject {
        request_id: String,
        #[arg(long)]
        reason: String,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum CareError {
    #[error("{0}")]
    Usage(String),
    #[error("the API answered {status}: {detail}")]
    Api { status: u16, detail: String },
    #[error("the API could not be reached: {0}")]
    Http(String),
    #[error("the Care queue: {0}")]
    Queue(String),
    #[error("{0}")]
    NotFound(String),
}

/// One waiting escalation (copies of the same request's message folded into one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Escalation {
    /// The message body (the §5 care-escalation JSON, or whatever the queue held).
    pub message: Value,
    pub request_id: Option<String>,
    pub copies: usize,
    /// Found on the dead-letter queue (received too often by listings).
    pub dead_lettered: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Shown {
    /// The request as the API returns it, when it is in Care's work list.
    pub request: Option<AccessRequestView>,
    /// Its message on the Care queue, when the API's work list does not hold the request.
    pub escalation: Option<Value>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Decided {
    pub request: AccessRequestView,
    /// Queue messages deleted for this request.
    pub acknowledged: usize,
}

/// A Care agent's session: the API with their token, and the Care queue.
#[derive(Debug, Clone)]
pub struct Care {
    /// The API, as this agent.
    pub api: ApiClient,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The Care dead-letter queue, read too (`None`: not read).
    pub dlq_url: Option<String>,
    /// Long-poll seconds of each receive (0 locally).
    pub wait_seconds: i32,
}

fn is_local(url: &str) -> bool {
    url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") || url.starts_with("http://[::1]")
}

impl Care {
    pub fn new(api: &str, token: &str, sqs: aws_sdk_sqs::Client, queue_url: &str) -> Care {
        Care {
            api: ApiClient::new(api, token),
            sqs,
            queue_url: queue_url.to_string(),
            dlq_url: Some(format!("{queue_url}-dlq")),
            wait_seconds: if is_local(queue_url) { 0 } else { 1 },
        }
    }

    /// From the command line: the token (given, or minted for the local stack) and an SQS
    /// client (the local emulator for a loopback queue URL, else the AWS default chain).
    pub async fn from_cli(cli: &Cli) -> Result<Care, CareError> {
        let token = match (&cli.token, &cli.local_care_email) {
            (Some(t), _) => t.clone(),
            (None, Some(email)) => {
                let email = abev::domain::Email::parse(email).map_err(|e| CareError::Usage(e.to_string()))?;
                let secret = abev_local::local_auth::LocalAuthorizer::from_env().secret;
                abev_local::jwt::mint_for(&secret, email.as_str(), true)
            }
            (None, None) => {
                return Err(CareError::Usage("give a Care token (--token or ABEV_TOKEN), or --local-care-email for the local stack".into()))
            }
        };
        let sqs = if is_local(&cli.queue_url) {
            let endpoint = endpoint_of(&cli.queue_url);
            abev::aws::local_clients("http://127.0.0.1:8000", &endpoint).1
        } else {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            aws_sdk_sqs::Client::new(&config)
        };
        let mut care = Care::new(&cli.api, &token, sqs, &cli.queue_url);
        if cli.dlq_url.is_some() {
            care.dlq_url = cli.dlq_url.clone();
        }
        Ok(care)
    }

    // ---- the queue --------------------------------------------------------------------

    /// The queues read: the Care queue, then its dead-letter queue (if it exists).
    fn queues(&self) -> Vec<(&str, bool)> {
        std::iter::once((self.queue_url.as_str(), false)).chain(self.dlq_url.as_deref().map(|d| (d, true))).collect()
    }

    /// Receives every visible message of `queue` once (hidden for a short while).
    async fn receive_all(&self, queue: &str) -> Result<Vec<Message>, CareError> {
        let mut all: Vec<Message> = Vec::new();
        while all.len() < MAX_MESSAGES {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .visibility_timeout(LIST_VISIBILITY_SECONDS)
                .wait_time_seconds(self.wait_seconds)
                .send()
                .await
                .map_err(|e| CareError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        Ok(all)
    }

    /// Receives from every queue read; a missing dead-letter queue is skipped.
    async fn receive_everywhere(&self) -> Result<Vec<(String, bool, Message)>, CareError> {
        let mut all = Vec::new();
        for (queue, dead) in self.queues() {
            match self.receive_all(queue).await {
                Ok(messages) => all.extend(messages.into_iter().map(|m| (queue.to_string(), dead, m))),
                Err(_) if dead => {}
                Err(e) => return Err(e),
            }
        }
        Ok(all)
    }

    /// Makes messages visible again at once.
    async fn release(&self, messages: &[(String, bool, Message)]) {
        for (queue, _, m) in messages {
            if let Some(handle) = m.receipt_handle() {
                let _ = self.sqs.change_message_visibility().queue_url(queue).receipt_handle(handle).visibility_timeout(0).send().await;
            }
        }
    }

    /// The escalations waiting on the queue, oldest request first.
    pub async fn list(&self) -> Result<Vec<Escalation>, CareError> {
        let messages = self.receive_everywhere().await?;
        self.release(&messages).await;
        let mut by_request: BTreeMap<String, Escalation> = BTreeMap::new();
        let mut unreadable = Vec::new();
        for (_, dead, m) in &messages {
            let body: Value = serde_json::from_str(m.body().unwrap_or_default())
                .unwrap_or_else(|_| Value::String(m.body().unwrap_or_default().to_string()));
            match body.get("request_id").and_then(Value::as_str).map(str::to_string) {
                Some(id) => {
                    let e = by_request.entry(id.clone()).or_insert(Escalation {
                        message: body,
                        request_id: Some(id),
                        copies: 0,
                        dead_lettered: false,
                    });
                    e.copies += 1;
                    e.dead_lettered |= *dead;
                }
                None => unreadable.push(Escalation { message: body, request_id: None, copies: 1, dead_lettered: *dead }),
            }
        }
        let mut list: Vec<Escalation> = by_request.into_values().collect();
        list.sort_by(|a, b| a.message["created_at"].as_str().cmp(&b.message["created_at"].as_str()));
        list.extend(unreadable);
        Ok(list)
    }

    /// Deletes every queue message carrying `request_id` (dead-letter queue included);
    /// returns how many.
    pub async fn acknowledge(&self, request_id: &str) -> Result<usize, CareError> {
        let messages = self.receive_everywhere().await?;
        let (mine, others): (Vec<_>, Vec<_>) = messages.into_iter().partition(|(_, _, m)| {
            serde_json::from_str::<Value>(m.body().unwrap_or_default())
                .ok()
                .and_then(|v| v.get("request_id").and_then(Value::as_str).map(|id| id == request_id))
                .unwrap_or(false)
        });
        self.release(&others).await;
        let mut deleted = 0;
        for (queue, _, m) in &mine {
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| CareError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    // ---- the API ----------------------------------------------------------------------

    /// A request and the members of its site.
    pub async fn show(&self, request_id: &str) -> Result<Shown, CareError> {
        let approvals = self.api.all_approvals().await.map_err(api_error)?;
        let request = approvals.into_iter().find(|r| r.request_id == request_id);
        // The queue only when the API does not have it (each receive counts against the
        // queue's maxReceiveCount).
        let escalation = match &request {
            Some(_) => None,
            None => self.list().await?.into_iter().find(|e| e.request_id.as_deref() == Some(request_id)).map(|e| e.message),
        };
        let site = match (&request, &escalation) {
            (Some(r), _) => Some(r.support_id.to_string()),
            (None, Some(e)) => e["support_id"].as_str().map(str::to_string),
            (None, None) => None,
        }
        .ok_or_else(|| {
            CareError::NotFound(format!("request {request_id} is neither in Care's work list nor on the Care queue (already decided?)"))
        })?;
        let members = self.api.all_members(&site).await.map_err(api_error)?;
        Ok(Shown { request, escalation, members })
    }

    pub async fn approve(&self, request_id: &str, role: Option<Role>) -> Result<Decided, CareError> {
        let decided = self.api.approve(request_id, role).await.map_err(api_error);
        self.acknowledge_decision(request_id, decided).await
    }

    pub async fn reject(&self, request_id: &str, reason: &str) -> Result<Decided, CareError> {
        let decided = self.api.reject(request_id, reason).await.map_err(api_error);
        self.acknowledge_decision(request_id, decided).await
    }

    /// After a decision (or a 409: decided already), the request's queue messages are done.
    async fn acknowledge_decision(&self, request_id: &str, decided: Result<AccessRequestView, CareError>) -> Result<Decided, CareError> {
        match decided {
            Ok(request) => {
                let acknowledged = self.acknowledge(request_id).await?;
                Ok(Decided { request, acknowledged })
            }
            Err(CareError::Api { status: 409, detail }) => {
                // Decided already (by a colleague, or an admin): its messages are done too.
                let acknowledged = self.acknowledge(request_id).await?;
                Err(CareError::Api { status: 409, detail: format!("{detail} (removed {acknowledged} queue message(s))") })
            }
            Err(e) => Err(e),
        }
    }
}

fn api_error(e: ClientError) -> CareError {
    match e {
        ClientError::Problem(p) => CareError::Api { status: p.status, detail: p.detail },
        ClientError::Http(m) => CareError::Http(m),
        ClientError::Contract(m) => CareError::Http(m),
    }
}

/// `http://host:port` of a queue URL.
fn endpoint_of(queue_url: &str) -> String {
    let rest = queue_url.split_once("://").map(|(_, r)| r).unwrap_or(queue_url);
    let host = rest.split('/').next().unwrap_or(rest);
    let scheme = queue_url.split_once("://").map(|(s, _)| s).unwrap_or("http");
    format!("{scheme}://{host}")
}

fn line(m: &Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("-").to_string();
    format!(
        "{}  {} ({})  {}  {} -> {}  {}  {}",
        s("request_id"),
        s("support_id"),
        s("site_name"),
        s("requester_email"),
        s("kind"),
        s("requested_role"),
        m["reason"].as_str().or(m["escalation_reason"].as_str()).unwrap_or("-"),
        s("created_at"),
    )
}

fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Runs one command, writing what a person reads (or JSON with `--json`) to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), CareError> {
    let care = Care::from_cli(&cli).await?;
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    match &cli.command {
        Command::List => {
            let list = care.list().await?;
            if cli.json {
                return print_json(out, &list).map_err(io);
            }
            writeln!(out, "{} escalation(s) waiting on {}", list.len(), care.queue_url).map_err(io)?;
            for e in &list {
                let copies = if e.copies > 1 { format!("  ({} copies)", e.copies) } else { String::new() };
                let dead = if e.dead_lettered { "  [dead-letter queue]" } else { "" };
                writeln!(out, "{}{copies}{dead}", line(&e.message)).map_err(io)?;
            }
        }
        Command::Show { request_id } => {
            let shown = care.show(request_id).await?;
            if cli.json {
                return print_json(out, &shown).map_err(io);
            }
            let about = match (&shown.request, &shown.escalation) {
                (Some(r), _) => serde_json::to_value(r).unwrap_or(Value::Null),
                (None, Some(e)) => e.clone(),
                (None, None) => Value::Null,
            };
            writeln!(out, "{}", line(&about)).map_err(io)?;
            if let Some(r) = &shown.request {
                writeln!(out, "status: {}", r.status.as_str()).map_err(io)?;
            }
            writeln!(out, "members of {} ({}):", about["support_id"].as_str().unwrap_or("-"), shown.members.len()).map_err(io)?;
            for m in &shown.members {
                writeln!(out, "  {}  {}", m.role.as_str(), m.email).map_err(io)?;
            }
        }
        Command::Approve { request_id, role } => {
            let decided = care.approve(request_id, *role).await?;
            if cli.json {
                return print_json(out, &decided).map_err(io);
            }
            let r = &decided.request;
            writeln!(
                out,
                "approved {}: {} is now {} of {}; removed {} queue message(s)",
                request_id,
                r.requester_email,
                r.granted_role.map(|g| g.as_str()).unwrap_or("-"),
                r.support_id,
                decided.acknowledged
            )
            .map_err(io)?;
        }
        Command::Reject { request_id, reason } => {
            let decided = care.reject(request_id, reason).await?;
            if cli.json {
                return print_json(out, &decided).map_err(io);
            }
            writeln!(out, "rejected {request_id} ({reason}); removed {} queue message(s)", decided.acknowledged).map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_endpoint_and_locality() {
        assert_eq!(endpoint_of(LOCAL_QUEUE_URL), "http://127.0.0.1:9324");
        assert!(is_local(LOCAL_QUEUE_URL));
        assert!(!is_local("https://sqs.eu-west-1.amazonaws.com/111122223333/abev-care"));
    }

    #[test]
    fn command_line_parses() {
        let cli = Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "admin", "--local-care-email", "c@care.example"]).unwrap();
        assert!(matches!(cli.command, Command::Approve { role: Some(Role::Admin), .. }));
        assert!(Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "owner"]).is_err());
        assert!(Cli::try_parse_from(["abev-care", "reject", "r1"]).is_err(), "a rejection needs a reason");
    }
}
