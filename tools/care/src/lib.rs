//! `abev-care`: the Customer Care team's tool. It decides access requests through the
//! HTTP API with a Care token — a care agent never touches DynamoDB — and runs the view's
//! rollout waves.
//!
//! - `list` prints the requests waiting for the agent from `GET /v1/approvals` (the API is
//!   the source of truth): no side effects, an aligned table by default, `--json` for tools.
//! - `show ID` prints one request (`GET /v1/access-requests/{id}`) and its site's members.
//! - `approve ID [--role admin|user] [--yes]` / `reject ID --reason ...` decide through the
//!   API, then delete every Care-queue copy of that request's escalation. The decision is
//!   what counts: if removing the copies fails, the command still succeeds and says so.
//!   Granting `admin` asks for confirmation unless `--yes`.
//! - `queue` lists the escalation messages on the Care queue (the alert and integration
//!   feed), folding copies of one request; it receives with a short visibility timeout and
//!   releases the messages at once. A message SQS moved to the dead-letter queue is listed
//!   (marked) and acknowledged there too.
//! - `rollout enable SUPPORT_ID…`, `rollout disable SUPPORT_ID…`, `rollout status`: which
//!   account sites the view is enabled for (with `ABEV_ROLLOUT=waves`).
//! - `completions SHELL` prints a shell completion script; `--version` the version.

use abev::domain::Role;
use abev::http::dto::{AccessRequestView, EnabledSiteView, Member, RolloutChangeView};
use abev_client::{ApiClient, ClientError};
use aws_sdk_sqs::types::Message;
pub use clap::Parser;
use clap::Subcommand;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

pub const LOCAL_API: &str = "http://127.0.0.1:3000";
/// moto's URL of the local Care queue (account 123456789012).
pub const LOCAL_QUEUE_URL: &str = "http://127.0.0.1:9324/123456789012/abev-care";
/// Seconds a listing keeps the messages it read hidden (they are released right after).
const LIST_VISIBILITY_SECONDS: i32 = 30;
/// Most messages one pass reads.
const MAX_MESSAGES: usize = 2000;

#[derive(Debug, Parser)]
#[command(
    name = "abev-care",
    version,
    about = "Customer Care: list, show, approve and reject access requests; run the view's rollout waves"
)]
pub struct Cli {
    /// Base URL of the ABEV HTTP API.
    #[arg(long, env = "ABEV_API", default_value = LOCAL_API, global = true)]
    pub api: String,
    /// A bearer token of a Care agent (JWT with the Customer Care group).
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
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the requests waiting for you (from the API; no side effects).
    List,
    /// Show a request and its site's current members.
    Show { request_id: String },
    /// Approve a request (optionally granting another role than requested).
    Approve {
        request_id: String,
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// Do not ask before granting `admin`.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Reject a request, with the reason the requester will see.
    Reject {
        request_id: String,
        #[arg(long)]
        reason: String,
    },
    /// List the escalation messages on the Care queue (the alert feed).
    Queue,
    /// Rollout waves: enable or disable the view for account sites, or see which are enabled.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Enable the view for these account sites.
    Enable {
        #[arg(required_unless_present = "all")]
        support_ids: Vec<String>,
        /// Every site: that is the stack's `RolloutMode=everyone` parameter, not a per-site switch.
        #[arg(long, conflicts_with = "support_ids")]
        all: bool,
    },
    /// Disable the view for these account sites again.
    Disable {
        #[arg(required = true)]
        support_ids: Vec<String>,
    },
    /// The mode and the sites the view is enabled for.
    Status,
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
    #[error("not confirmed: nothing was done")]
    NotConfirmed,
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
    pub request: AccessRequestView,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Decided {
    pub request: AccessRequestView,
    /// Queue messages deleted for this request.
    pub acknowledged: usize,
    /// Why removing the request's queue copies failed (the decision itself stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledge_error: Option<String>,
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
                let secret = abev::http::local_auth::LocalAuthorizer::from_env().secret;
                abev::http::jwt::mint_for(&secret, email.as_str(), true)
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

    /// The requests waiting for this agent (`GET /v1/approvals`), oldest first.
    pub async fn pending(&self) -> Result<Vec<AccessRequestView>, CareError> {
        let mut requests = self.api.all_approvals().await.map_err(api_error)?;
        requests.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(requests)
    }

    /// A request and the members of its site.
    pub async fn show(&self, request_id: &str) -> Result<Shown, CareError> {
        let request = self.api.access_request(request_id).await.map_err(|e| match api_error(e) {
            CareError::Api { status: 404, detail } => CareError::NotFound(detail),
            other => other,
        })?;
        let members = self.api.all_members(request.support_id.as_str()).await.map_err(api_error)?;
        Ok(Shown { request, members })
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
            Ok(request) => Ok(match self.acknowledge(request_id).await {
                Ok(acknowledged) => Decided { request, acknowledged, acknowledge_error: None },
                // The decision is made and stands; the copies are only notifications.
                Err(e) => Decided { request, acknowledged: 0, acknowledge_error: Some(e.to_string()) },
            }),
            Err(CareError::Api { status: 409, detail }) => {
                // Decided already (by a colleague, or an admin): its messages are done too.
                let removed = match self.acknowledge(request_id).await {
                    Ok(n) => format!("removed {n} queue message(s)"),
                    Err(e) => format!("removing its queue messages failed: {e}"),
                };
                Err(CareError::Api { status: 409, detail: format!("{detail} ({removed})") })
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

/// Columns padded to their widest cell, a header first, two spaces between columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = render(header.to_vec());
    for row in rows {
        out.push_str(&render(row.iter().map(String::as_str).collect()));
    }
    out
}

fn request_rows(requests: &[AccessRequestView]) -> Vec<Vec<String>> {
    requests
        .iter()
        .map(|r| {
            vec![
                r.request_id.clone(),
                r.status.as_str().to_string(),
                r.support_id.to_string(),
                r.site_name.clone(),
                r.requester_email.to_string(),
                format!("{} -> {}", abev_client::wire(&r.kind), r.requested_role.as_str()),
                r.escalation_reason.map(|e| e.as_str().to_string()).unwrap_or_else(|| "-".into()),
                r.created_at.clone(),
            ]
        })
        .collect()
}

const REQUEST_HEADER: &[&str] = &["REQUEST", "STATUS", "SITE", "NAME", "REQUESTER", "ASKS", "ESCALATED", "CREATED"];

fn escalation_rows(list: &[Escalation]) -> Vec<Vec<String>> {
    list.iter()
        .map(|e| {
            let s = |k: &str| e.message[k].as_str().unwrap_or("-").to_string();
            vec![
                e.request_id.clone().unwrap_or_else(|| "(unreadable)".into()),
                s("support_id"),
                s("requester_email"),
                format!("{} -> {}", s("kind"), s("requested_role")),
                s("reason"),
                s("created_at"),
                e.copies.to_string(),
                if e.dead_lettered { "dead-letter queue".into() } else { "queue".into() },
            ]
        })
        .collect()
}

fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Runs one command, reading confirmations from stdin.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), CareError> {
    let stdin = std::io::stdin();
    run_with(cli, out, &mut stdin.lock()).await
}

/// Runs one command, writing what a person reads (or JSON with `--json`) to `out` and
/// reading confirmations from `input`.
pub async fn run_with(cli: Cli, out: &mut impl Write, input: &mut impl BufRead) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    if let Command::Completions { shell } = &cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut command, "abev-care", out);
        return Ok(());
    }
    if let Command::Rollout { command: RolloutCommand::Enable { all: true, .. } } = &cli.command {
        return Err(CareError::Usage(
            "the view for every site is the stack's mode, not a per-site switch: deploy with the parameter RolloutMode=everyone \
             (sam deploy --parameter-overrides RolloutMode=everyone; locally ABEV_ROLLOUT=everyone)"
                .into(),
        ));
    }
    let care = Care::from_cli(&cli).await?;
    match &cli.command {
        Command::List => {
            let pending = care.pending().await?;
            if cli.json {
                return print_json(out, &pending).map_err(io);
            }
            write!(out, "{}", table(REQUEST_HEADER, &request_rows(&pending))).map_err(io)?;
        }
        Command::Show { request_id } => {
            let shown = care.show(request_id).await?;
            if cli.json {
                return print_json(out, &shown).map_err(io);
            }
            write!(out, "{}", table(REQUEST_HEADER, &request_rows(std::slice::from_ref(&shown.request)))).map_err(io)?;
            writeln!(out, "\nmembers of {} ({}):", shown.request.support_id, shown.members.len()).map_err(io)?;
            let rows: Vec<Vec<String>> = shown
                .members
                .iter()
                .map(|m| vec![m.role.as_str().to_string(), m.email.to_string(), m.since.clone().unwrap_or_default()])
                .collect();
            write!(out, "{}", table(&["ROLE", "EMAIL", "SINCE"], &rows)).map_err(io)?;
        }
        Command::Approve { request_id, role, yes } => {
            if *role == Some(Role::Admin) && !*yes {
                let request = care.api.access_request(request_id).await.map_err(api_error)?;
                writeln!(
                    out,
                    "Make {} an administrator of {} ({})? They will decide its access requests. [y/N]",
                    request.requester_email, request.support_id, request.site_name
                )
                .map_err(io)?;
                out.flush().map_err(io)?;
                let mut answer = String::new();
                input.read_line(&mut answer).map_err(io)?;
                if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                    return Err(CareError::NotConfirmed);
                }
            }
            let decided = care.approve(request_id, *role).await?;
            report_decision(out, &decided, cli.json, || {
                let r = &decided.request;
                format!(
                    "approved {request_id}: {} is now {} of {}",
                    r.requester_email,
                    r.granted_role.map(|g| g.as_str()).unwrap_or("-"),
                    r.support_id
                )
            })
            .map_err(io)?;
        }
        Command::Reject { request_id, reason } => {
            let decided = care.reject(request_id, reason).await?;
            report_decision(out, &decided, cli.json, || format!("rejected {request_id} ({reason})")).map_err(io)?;
        }
        Command::Queue => {
            let list = care.list().await?;
            if cli.json {
                return print_json(out, &list).map_err(io);
            }
            let header = &["REQUEST", "SITE", "REQUESTER", "ASKS", "REASON", "CREATED", "COPIES", "ON"];
            write!(out, "{}", table(header, &escalation_rows(&list))).map_err(io)?;
        }
        Command::Rollout { command } => rollout(&care, command, cli.json, out).await?,
        Command::Completions { .. } => {}
    }
    Ok(())
}

/// A decision's report: JSON, or one line, plus a warning when the queue copies stayed.
fn report_decision(out: &mut impl Write, decided: &Decided, json: bool, text: impl FnOnce() -> String) -> std::io::Result<()> {
    if json {
        return print_json(out, decided);
    }
    match &decided.acknowledge_error {
        None => writeln!(out, "{}; removed {} queue message(s)", text(), decided.acknowledged),
        Some(e) => writeln!(
            out,
            "{}; the decision stands, but removing its Care-queue copies failed ({e}): `abev-care queue` may still show it",
            text()
        ),
    }
}

async fn rollout(care: &Care, command: &RolloutCommand, json: bool, out: &mut impl Write) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    let change_rows = |changes: &[RolloutChangeView]| -> Vec<Vec<String>> {
        changes
            .iter()
            .map(|c| {
                let state = if c.enabled { "enabled" } else { "disabled" };
                vec![c.support_id.to_string(), c.name.clone(), state.into(), if c.changed { "changed".into() } else { "already so".into() }]
            })
            .collect()
    };
    let (ids, enabled) = match command {
        RolloutCommand::Status => {
            let (mode, sites) = care.api.rollout().await.map_err(api_error)?;
            if json {
                return print_json(out, &serde_json::json!({ "mode": mode, "sites": sites })).map_err(io);
            }
            writeln!(out, "mode: {}", mode.as_str()).map_err(io)?;
            let rows: Vec<Vec<String>> = sites
                .iter()
                .map(|s: &EnabledSiteView| vec![s.support_id.to_string(), s.name.clone(), s.enabled_at.clone(), s.enabled_by.to_string()])
                .collect();
            return write!(out, "{}", table(&["SITE", "NAME", "ENABLED", "BY"], &rows)).map_err(io);
        }
        RolloutCommand::Enable { support_ids, .. } => (support_ids, true),
        RolloutCommand::Disable { support_ids } => (support_ids, false),
    };
    let mut changes = Vec::new();
    for id in ids {
        changes.push(care.api.set_rollout(id, enabled).await.map_err(api_error)?);
    }
    if json {
        return print_json(out, &changes).map_err(io);
    }
    write!(out, "{}", table(&["SITE", "NAME", "VIEW", "CHANGE"], &change_rows(&changes))).map_err(io)
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
    fn tables_align_under_their_header() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["w".into(), "22".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nw    22\n");
    }

    #[test]
    fn version_completions_and_rollout_parse() {
        let err = Cli::try_parse_from(["abev-care", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(Cli::try_parse_from(["abev-care", "completions", "bash"]).is_ok());
        let cli = Cli::try_parse_from(["abev-care", "rollout", "enable", "ACME-1", "FARM-1"]).unwrap();
        assert!(
            matches!(cli.command, Command::Rollout { command: RolloutCommand::Enable { ref support_ids, all: false } } if support_ids.len() == 2)
        );
        assert!(Cli::try_parse_from(["abev-care", "rollout", "enable"]).is_err(), "sites or --all");
        assert!(Cli::try_parse_from(["abev-care", "rollout", "enable", "--all", "ACME-1"]).is_err());
        assert!(Cli::try_parse_from(["abev-care", "rollout", "disable"]).is_err());
    }

    #[test]
    fn command_line_parses() {
        let cli = Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "admin", "--local-care-email", "c@care.example"]).unwrap();
        assert!(matches!(cli.command, Command::Approve { role: Some(Role::Admin), .. }));
        assert!(Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "owner"]).is_err());
        assert!(Cli::try_parse_from(["abev-care", "reject", "r1"]).is_err(), "a rejection needs a reason");
    }
}
