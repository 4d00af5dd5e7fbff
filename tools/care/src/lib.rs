//! `abev-care`: the Customer Care team's tool. It decides access requests through the
//! HTTP API with a Care agent's token — an agent never touches DynamoDB — and runs the
//! view's rollout waves.
//!
//! - `login` signs in through the browser (OIDC authorization code + PKCE, loopback
//!   redirect) and keeps the refresh token in the OS keyring (a 0600 file where there is
//!   none); every command renews the ID token when it is about to expire. `logout`
//!   revokes it and forgets it; `status` says who is signed in, where, until when.
//! - `list` prints the requests waiting for the agent from `GET /v1/approvals` (the API is
//!   the source of truth): no side effects.
//! - `show ID` prints one request (`GET /v1/access-requests/{id}`) and its site's members.
//! - `approve ID [--role admin|user] [--yes]` / `reject ID --reason ...` decide through the
//!   API, then delete every Care-queue copy of that request's escalation. The decision is
//!   what counts: if removing the copies fails, the command still succeeds and says so.
//!   Granting `admin` asks for confirmation unless `--yes`.
//! - `queue` lists the escalation messages on the Care queue (the alert and integration
//!   feed), folding copies of one request; it receives with a short visibility timeout and
//!   releases the messages at once. A message SQS moved to the dead-letter queue is listed
//!   (marked) and acknowledged there too.
//! - `rollout enable SUPPORT_ID…`, `rollout disable SUPPORT_ID…`, `rollout status`.
//! - `completions SHELL` prints a shell completion script; `--version` the version.
//!
//! The token comes from the login, `ABEV_TOKEN` or standard input (`--token-stdin`) — never
//! from the command line, where other users and shell histories would see it.

pub mod login;
pub mod output;
pub mod profile;
pub mod secret;
pub mod store;

use abev::domain::Role;
use abev::http::dto::{AccessRequestView, EnabledSiteView, Member, RolloutChangeView};
use abev_client::{ApiClient, ClientError};
use aws_sdk_sqs::types::Message;
pub use clap::Parser;
use clap::Subcommand;
pub use output::Output;
use profile::Profile;
pub use secret::Token;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

pub use profile::LOCAL_API;
/// moto's URL of the local Care queue (account 123456789012).
pub const LOCAL_QUEUE_URL: &str = "http://127.0.0.1:9324/123456789012/abev-care";
/// Seconds a listing keeps the messages it read hidden (they are released right after).
const LIST_VISIBILITY_SECONDS: i32 = 30;
/// Most messages one pass reads.
const MAX_MESSAGES: usize = 2000;

const EXIT_CODES: &str = "Exit codes:
  0  done
  1  failed (the API or the queue could not be reached, or a confirmation was refused)
  2  usage: a wrong command line, profile or setting
  3  authentication: not signed in, the login expired, or the token is refused (401, 403)
  4  not found (404)
  5  conflict: decided already, or another change got there first (409)

The token comes from `abev-care login` (kept in the OS keyring, or a 0600 file where there is none),
from ABEV_TOKEN, or from standard input with --token-stdin; never from the command line.";

#[derive(Debug, Parser)]
#[command(
    name = "abev-care",
    version,
    about = "Customer Care: sign in; list, show, approve and reject access requests; run the view's rollout waves",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The profile of ~/.config/abev/config.toml to use (API URL, issuer, client id).
    #[arg(long, env = "ABEV_PROFILE", default_value = "default", global = true)]
    pub profile: String,
    /// The config file (default: $XDG_CONFIG_HOME/abev/config.toml or ~/.config/abev/config.toml).
    #[arg(long, env = "ABEV_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Base URL of the ABEV HTTP API (overrides the profile's `api`).
    #[arg(long, env = "ABEV_API", global = true)]
    pub api: Option<String>,
    /// Read the bearer token from the first line of standard input (instead of the login or ABEV_TOKEN).
    #[arg(long, global = true)]
    pub token_stdin: bool,
    /// The token to act with (set by code or from ABEV_TOKEN; never a command-line argument).
    #[arg(skip)]
    pub token: Option<Token>,
    /// Local stack only (built with `--features local`): mint a Care token for this e-mail.
    #[cfg(feature = "local")]
    #[arg(long, env = "ABEV_CARE_EMAIL", global = true)]
    pub local_care_email: Option<String>,
    /// URL of the Care escalation queue (overrides the profile's `queue_url`).
    #[arg(long, env = "ABEV_CARE_QUEUE_URL", global = true)]
    pub queue_url: Option<String>,
    /// URL of the Care dead-letter queue (default: the queue URL + `-dlq`).
    #[arg(long, env = "ABEV_CARE_DLQ_URL", global = true)]
    pub dlq_url: Option<String>,
    /// What to print: an aligned table, JSON, or CSV.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// Same as --output json.
    #[arg(long, global = true, hide = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    fn output(&self) -> Output {
        if self.json {
            Output::Json
        } else {
            self.output
        }
    }

    fn config_path(&self) -> Option<std::path::PathBuf> {
        self.config.clone().or_else(profile::default_config_path)
    }

    /// The profile, with the command line's overrides.
    pub fn profile(&self) -> Result<Profile, CareError> {
        let mut p = Profile::load(self.config_path().as_deref(), &self.profile)?;
        if let Some(api) = &self.api {
            p.api = Some(api.clone());
        }
        if let Some(q) = &self.queue_url {
            p.queue_url = Some(q.clone());
        }
        Ok(p)
    }

    /// Where this profile's login is kept.
    pub fn store(&self, profile: &Profile) -> store::Store {
        let dir = self
            .config_path()
            .and_then(|p| p.parent().map(|d| d.join("credentials")))
            .unwrap_or_else(|| std::path::PathBuf::from(".abev-credentials"));
        store::Store { profile: profile.name.clone(), dir, file_only: profile.credential_store.as_deref() == Some("file") }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through the browser (OIDC + PKCE, loopback redirect) and keep the login.
    Login {
        /// Do not open a browser: print the URL to open (on this machine) instead.
        #[arg(long)]
        no_browser: bool,
    },
    /// Revoke the login at the identity provider and forget it.
    Logout,
    /// Who is signed in, with which profile and API, until when, and where the login is kept.
    Status,
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
    /// List the escalation messages on the Care queue (the alert feed), notices included.
    Queue,
    /// Remove a notice (`abev.care-notice.v1`, e.g. a claim at a site with no admin) from the queue.
    Dismiss { notice_id: String },
    /// Set when a membership ends (RFC 3339), or clear it with `--clear`.
    Expire {
        support_id: String,
        email: String,
        #[arg(required_unless_present = "clear")]
        at: Option<String>,
        #[arg(long, conflicts_with = "at")]
        clear: bool,
    },
    /// Revoke a claim by proof of purchase within the site's window.
    RevokeClaim { support_id: String, email: String },
    /// A site's domain rules: verified e-mail at a domain approved at once as `user`.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// A site's access review: show it; `--every N` days (or `--off`) sets the schedule;
    /// with an e-mail, `--confirm` or `--remove` that member.
    Review {
        support_id: String,
        email: Option<String>,
        #[arg(long, requires = "email", conflicts_with = "remove")]
        confirm: bool,
        #[arg(long, requires = "email")]
        remove: bool,
        #[arg(long, conflicts_with_all = ["email", "off"])]
        every: Option<i64>,
        #[arg(long, conflicts_with = "email")]
        off: bool,
    },
    /// Invite an e-mail address to a site with a role (or `--withdraw` the invitation; `--list` a site's).
    Invite {
        support_id: String,
        #[arg(required_unless_present = "list")]
        email: Option<String>,
        #[arg(long, value_parser = parse_role, default_value = "user")]
        role: Role,
        /// When the membership it grants ends (RFC 3339).
        #[arg(long)]
        ends_at: Option<String>,
        #[arg(long, conflicts_with_all = ["list", "ends_at"])]
        withdraw: bool,
        #[arg(long, conflicts_with = "email")]
        list: bool,
    },
    /// Rollout waves: enable or disable the view for account sites, or see which are enabled.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The site's rules.
    List { support_id: String },
    /// Add a rule (never a public mail provider's domain).
    Add { support_id: String, domain: String },
    /// Remove a rule.
    Remove { support_id: String, domain: String },
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
    /// Not signed in, an expired login, or a refused token.
    #[error("{0}")]
    Auth(String),
    #[error("the API answered {status}: {detail}")]
    Api { status: u16, detail: String },
    #[error("the API could not be reached: {0}")]
    Http(String),
    #[error("the Care queue: {0}")]
    Queue(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the login store: {0}")]
    Store(String),
    #[error("not confirmed: nothing was done")]
    NotConfirmed,
}

impl CareError {
    /// The process exit code (`abev-care --help` lists them).
    pub fn exit_code(&self) -> u8 {
        match self {
            CareError::Usage(_) => 2,
            CareError::Auth(_) | CareError::Api { status: 401 | 403, .. } => 3,
            CareError::NotFound(_) | CareError::Api { status: 404, .. } => 4,
            CareError::Api { status: 409, .. } => 5,
            _ => 1,
        }
    }
}

/// One waiting escalation (copies of the same request's message folded into one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Escalation {
    /// The message body (the §5 care-escalation JSON, or whatever the queue held).
    pub message: Value,
    pub request_id: Option<String>,
    /// A Care notice's id (`abev.care-notice.v1`: nothing to decide; `dismiss` removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<String>,
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

/// An SQS client of the local emulator (moto): dummy credentials, its endpoint.
fn local_sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "abev-care"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
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

    /// From the command line: the profile, the token (see [`token_for`]) and an SQS
    /// client (the local emulator for a loopback queue URL, else the AWS default chain).
    pub async fn from_cli(cli: &Cli, input: &mut impl BufRead) -> Result<Care, CareError> {
        let profile = cli.profile()?;
        let api = profile.api.clone().unwrap_or_else(|| LOCAL_API.into());
        profile::require_safe_url("the API", &api)?;
        let token = token_for(cli, &profile, input).await?;
        let queue_url = profile.queue_url.clone().unwrap_or_else(|| LOCAL_QUEUE_URL.into());
        let sqs = if is_local(&queue_url) {
            local_sqs(&endpoint_of(&queue_url))
        } else {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            aws_sdk_sqs::Client::new(&config)
        };
        let mut care = Care::new(&api, token.expose(), sqs, &queue_url);
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
            let request_id = body.get("request_id").and_then(Value::as_str).map(str::to_string);
            let notice_id = body.get("notice_id").and_then(Value::as_str).map(str::to_string);
            let key = match (&request_id, &notice_id) {
                (Some(id), _) => id.clone(),
                (None, Some(id)) => format!("notice:{id}"),
                (None, None) => {
                    unreadable.push(Escalation { message: body, request_id: None, notice_id: None, copies: 1, dead_lettered: *dead });
                    continue;
                }
            };
            let e = by_request.entry(key).or_insert(Escalation { message: body, request_id, notice_id, copies: 0, dead_lettered: false });
            e.copies += 1;
            e.dead_lettered |= *dead;
        }
        let mut list: Vec<Escalation> = by_request.into_values().collect();
        // Escalations by `created_at`, notices by `at`: both when it happened.
        let when = |e: &Escalation| e.message["created_at"].as_str().or(e.message["at"].as_str()).map(str::to_string);
        list.sort_by_key(when);
        list.extend(unreadable);
        Ok(list)
    }

    /// Deletes every queue message carrying `request_id` (or, a notice, that `notice_id`;
    /// dead-letter queue included); returns how many.
    pub async fn acknowledge(&self, request_id: &str) -> Result<usize, CareError> {
        let messages = self.receive_everywhere().await?;
        let (mine, others): (Vec<_>, Vec<_>) = messages.into_iter().partition(|(_, _, m)| {
            serde_json::from_str::<Value>(m.body().unwrap_or_default())
                .ok()
                .and_then(|v| {
                    let id = v.get("request_id").or_else(|| v.get("notice_id"))?;
                    id.as_str().map(|id| id == request_id)
                })
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

    /// Sets (or, `None`, clears) when a membership ends (issue 21).
    pub async fn set_membership_end(&self, site: &str, email: &str, ends_at: Option<&str>) -> Result<Member, CareError> {
        let body = serde_json::json!({ "ends_at": ends_at }).to_string();
        let path = format!("/v1/sites/{}/members/{}/end-date", path_segment(site), path_segment(email));
        self.api.raw(reqwest::Method::PUT, &path, &[], Some(&body)).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// Revokes a claim by proof of purchase within the site's window (issue 21).
    pub async fn revoke_claim(&self, site: &str, email: &str) -> Result<Value, CareError> {
        let path = format!("/v1/sites/{}/claims/{}", path_segment(site), path_segment(email));
        self.api.raw(reqwest::Method::DELETE, &path, &[], None).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// `GET|POST|DELETE /v1/sites/{s}/domain-rules` (issue 21).
    pub async fn domain_rules(&self, command: &RulesCommand) -> Result<Value, CareError> {
        let (method, site, domain, body) = match command {
            RulesCommand::List { support_id } => (reqwest::Method::GET, support_id, None, None),
            RulesCommand::Add { support_id, domain } => {
                (reqwest::Method::POST, support_id, None, Some(serde_json::json!({ "domain": domain }).to_string()))
            }
            RulesCommand::Remove { support_id, domain } => (reqwest::Method::DELETE, support_id, Some(domain), None),
        };
        let mut path = format!("/v1/sites/{}/domain-rules", path_segment(site));
        if let Some(domain) = domain {
            path.push('/');
            path.push_str(&path_segment(domain));
        }
        self.api.raw(method, &path, &[], body.as_deref()).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// `GET /v1/sites/{s}/review`, `PUT .../review-schedule`, `POST .../review/{email}` (issue 21).
    pub async fn review(
        &self,
        site: &str,
        email: Option<&str>,
        action: Option<&str>,
        every: Option<Option<i64>>,
    ) -> Result<Value, CareError> {
        let base = format!("/v1/sites/{}", path_segment(site));
        let (method, path, body) = match (email, action, every) {
            (Some(email), Some(action), _) => (
                reqwest::Method::POST,
                format!("{base}/review/{}", path_segment(email)),
                Some(serde_json::json!({ "action": action }).to_string()),
            ),
            (_, _, Some(every)) => {
                (reqwest::Method::PUT, format!("{base}/review-schedule"), Some(serde_json::json!({ "every_days": every }).to_string()))
            }
            _ => (reqwest::Method::GET, format!("{base}/review"), None),
        };
        self.api.raw(method, &path, &[], body.as_deref()).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// `POST /v1/sites/{s}/invitations` (issue 21).
    pub async fn invite(&self, site: &str, email: &str, role: Role, ends_at: Option<&str>) -> Result<Value, CareError> {
        let body = serde_json::json!({ "email": email, "role": role, "ends_at": ends_at }).to_string();
        let path = format!("/v1/sites/{}/invitations", path_segment(site));
        self.api.raw(reqwest::Method::POST, &path, &[], Some(&body)).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// `DELETE /v1/sites/{s}/invitations/{email}` (issue 21).
    pub async fn withdraw_invitation(&self, site: &str, email: &str) -> Result<Value, CareError> {
        let path = format!("/v1/sites/{}/invitations/{}", path_segment(site), path_segment(email));
        self.api.raw(reqwest::Method::DELETE, &path, &[], None).await.and_then(|a| a.into_result()).map_err(api_error)
    }

    /// `GET /v1/sites/{s}/invitations` (first 500).
    pub async fn invitations(&self, site: &str) -> Result<Value, CareError> {
        let path = format!("/v1/sites/{}/invitations", path_segment(site));
        self.api
            .raw(reqwest::Method::GET, &path, &[("limit", "500".to_string())], None)
            .await
            .and_then(|a| a.into_result())
            .map_err(api_error)
    }

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

/// The token to act with, first found: set by code, `ABEV_TOKEN`, standard input
/// (`--token-stdin`), (with `--features local`) one minted for `--local-care-email`, or the
/// profile's login — renewed and saved again when it is about to expire.
pub async fn token_for(cli: &Cli, profile: &Profile, input: &mut impl BufRead) -> Result<Token, CareError> {
    if let Some(t) = &cli.token {
        return Ok(t.clone());
    }
    if let Some(t) = std::env::var("ABEV_TOKEN").ok().map(Token::new).filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    if cli.token_stdin {
        let mut line = String::new();
        input.read_line(&mut line).map_err(|e| CareError::Usage(format!("reading the token from standard input: {e}")))?;
        let t = Token::new(line);
        return if t.is_empty() { Err(CareError::Usage("--token-stdin: standard input held no token".into())) } else { Ok(t) };
    }
    #[cfg(feature = "local")]
    if let Some(email) = &cli.local_care_email {
        let email = abev::domain::Email::parse(email).map_err(|e| CareError::Usage(e.to_string()))?;
        let secret = abev_local::local_auth::LocalAuthorizer::from_env().secret;
        return Ok(Token::new(abev_local::jwt::mint_for(&secret, email.as_str(), true)));
    }
    let store = cli.store(profile);
    let Some((creds, _)) = store.load()? else {
        return Err(CareError::Auth(format!(
            "not signed in (profile {}): run `abev-care login`, or give a token in ABEV_TOKEN or with --token-stdin",
            profile.name
        )));
    };
    if !login::needs_renewal(&creds) {
        return Ok(creds.bearer());
    }
    let http = reqwest::Client::new();
    let endpoints = login::endpoints(&http, profile).await?;
    let renewed = login::renew(&http, profile, &endpoints, &creds).await?;
    store.save(&renewed)?;
    Ok(renewed.bearer())
}

/// A path segment, percent-encoded (e-mails may carry `+`).
fn path_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
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

pub use output::table;

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
                r.escalation_reason.map(|e| e.as_str().to_string()).unwrap_or_default(),
                r.created_at.clone(),
            ]
        })
        .collect()
}

const REQUEST_HEADER: &[&str] = &["REQUEST", "STATUS", "SITE", "NAME", "REQUESTER", "ASKS", "ESCALATED", "CREATED"];

fn escalation_rows(list: &[Escalation]) -> Vec<Vec<String>> {
    list.iter()
        .map(|e| {
            let s = |k: &str| e.message[k].as_str().unwrap_or("").to_string();
            if let Some(id) = &e.notice_id {
                return vec![
                    format!("notice:{id}"),
                    s("support_id"),
                    s("email"),
                    format!("{} {} of {}", s("kind"), s("serial"), s("order_id")),
                    format!("revocable until {}", s("revocable_until")),
                    s("at"),
                    e.copies.to_string(),
                    if e.dead_lettered { "dead-letter queue".into() } else { "queue".into() },
                ];
            }
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
    writeln!(out, "{}", output::json(value))
}

/// Runs one command, reading confirmations (and `--token-stdin`) from stdin.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), CareError> {
    let stdin = std::io::stdin();
    run_with(cli, out, &mut stdin.lock()).await
}

/// Runs one command, writing what a person reads (or JSON/CSV with `--output`) to `out` and
/// reading confirmations from `input`.
pub async fn run_with(cli: Cli, out: &mut impl Write, input: &mut impl BufRead) -> Result<(), CareError> {
    run_opening(cli, out, input, login::open_browser).await
}

/// [`run_with`], with the browser `login` opens (tests play it).
pub async fn run_opening(
    cli: Cli,
    out: &mut impl Write,
    input: &mut impl BufRead,
    open: impl FnOnce(&str) -> bool,
) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    let format = cli.output();
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "abev-care", out);
            return Ok(());
        }
        Command::Rollout { command: RolloutCommand::Enable { all: true, .. } } => {
            return Err(CareError::Usage(
                "the view for every site is the stack's mode, not a per-site switch: deploy with the parameter RolloutMode=everyone \
                 (sam deploy --parameter-overrides RolloutMode=everyone; locally ABEV_ROLLOUT=everyone)"
                    .into(),
            ));
        }
        Command::Login { no_browser } => return sign_in(&cli, *no_browser, out, open).await,
        Command::Logout => return sign_out(&cli, out).await,
        Command::Status => return status(&cli, out).await,
        _ => {}
    }
    let care = Care::from_cli(&cli, input).await?;
    match &cli.command {
        Command::List => {
            let pending = care.pending().await?;
            output::print(out, format, REQUEST_HEADER, &request_rows(&pending), &pending).map_err(io)?;
        }
        Command::Show { request_id } => {
            let shown = care.show(request_id).await?;
            let rows: Vec<Vec<String>> = shown
                .members
                .iter()
                .map(|m| vec![m.role.as_str().to_string(), m.email.to_string(), m.since.clone().unwrap_or_default()])
                .collect();
            match format {
                Output::Json => return print_json(out, &shown).map_err(io),
                // CSV: the members, one row each (the request is `list`'s row).
                Output::Csv => return output::print(out, format, &["ROLE", "EMAIL", "SINCE"], &rows, &shown).map_err(io),
                Output::Table => {}
            }
            write!(out, "{}", table(REQUEST_HEADER, &request_rows(std::slice::from_ref(&shown.request)))).map_err(io)?;
            writeln!(out, "\nmembers of {} ({}):", shown.request.support_id, shown.members.len()).map_err(io)?;
            write!(out, "{}", table(&["ROLE", "EMAIL", "SINCE"], &rows)).map_err(io)?;
        }
        Command::Approve { request_id, role, yes } => {
            if *role == Some(Role::Admin) && !*yes {
                let request = care.show(request_id).await?.request;
                writeln!(
                    out,
                    "Make {} an administrator of {} ({})? They will decide its access requests. [y/N]",
                    request.requester_email,
                    request.support_id,
                    output::clean(&request.site_name)
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
            report_decision(out, &decided, format, || {
                let r = &decided.request;
                format!(
                    "approved {}: {} is now {} of {}",
                    output::clean(request_id),
                    r.requester_email,
                    r.granted_role.map(|g| g.as_str()).unwrap_or("-"),
                    r.support_id
                )
            })
            .map_err(io)?;
        }
        Command::Reject { request_id, reason } => {
            let decided = care.reject(request_id, reason).await?;
            report_decision(out, &decided, format, || format!("rejected {} ({})", output::clean(request_id), output::clean(reason)))
                .map_err(io)?;
        }
        Command::Queue => {
            let list = care.list().await?;
            let header = &["REQUEST", "SITE", "REQUESTER", "ASKS", "REASON", "CREATED", "COPIES", "ON"];
            output::print(out, format, header, &escalation_rows(&list), &list).map_err(io)?;
        }
        Command::Dismiss { notice_id } => {
            let removed = care.acknowledge(notice_id).await?;
            match format {
                Output::Json => print_json(out, &serde_json::json!({"notice_id": notice_id, "removed": removed})).map_err(io)?,
                _ => {
                    writeln!(out, "dismissed notice {} ({removed} cop{})", output::clean(notice_id), if removed == 1 { "y" } else { "ies" })
                        .map_err(io)?
                }
            }
        }
        Command::Expire { support_id, email, at, .. } => {
            let member = care.set_membership_end(support_id, email, at.as_deref()).await?;
            match format {
                Output::Json => print_json(out, &member).map_err(io)?,
                _ => writeln!(
                    out,
                    "{} at {}: {}",
                    member.email,
                    output::clean(support_id),
                    member.ends_at.as_deref().map_or("no end date".to_string(), |e| format!("ends at {e}"))
                )
                .map_err(io)?,
            }
        }
        Command::RevokeClaim { support_id, email } => {
            let revoked = care.revoke_claim(support_id, email).await?;
            match format {
                Output::Json => print_json(out, &revoked).map_err(io)?,
                _ => writeln!(out, "revoked the claim of {} at {}", output::clean(email), output::clean(support_id)).map_err(io)?,
            }
        }
        Command::Rules { command } => {
            let answer = care.domain_rules(command).await?;
            let rules: Vec<Value> = match command {
                RulesCommand::List { .. } => answer["rules"].as_array().cloned().unwrap_or_default(),
                _ => vec![answer.clone()],
            };
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    ["support_id", "domain", "role", "added_by", "added_at"]
                        .iter()
                        .map(|k| r[*k].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .collect();
            if format == Output::Table {
                if let RulesCommand::Remove { domain, .. } = command {
                    writeln!(out, "removed the rule for {}", output::clean(domain)).map_err(io)?;
                }
            }
            output::print(out, format, &["SITE", "DOMAIN", "ROLE", "ADDED BY", "ADDED"], &rows, &answer).map_err(io)?;
        }
        Command::Review { support_id, email, confirm, remove, every, off } => {
            let action = if *confirm {
                Some("confirm")
            } else if *remove {
                Some("remove")
            } else {
                None
            };
            if email.is_some() && action.is_none() {
                return Err(CareError::Usage("with an e-mail, say --confirm or --remove".into()));
            }
            let schedule = if *off { Some(None) } else { every.map(Some) };
            let answer = care.review(support_id, email.as_deref(), action, schedule).await?;
            let members: Vec<Value> = answer["members"].as_array().cloned().unwrap_or_default();
            if format == Output::Table {
                match (action, &schedule) {
                    (Some(_), _) => writeln!(
                        out,
                        "{} {}",
                        output::clean(answer["email"].as_str().unwrap_or("")),
                        output::clean(answer["outcome"].as_str().unwrap_or(""))
                    )
                    .map_err(io)?,
                    _ => writeln!(
                        out,
                        "review every {} days; due {}",
                        answer["every_days"].as_i64().map_or("-".to_string(), |d| d.to_string()),
                        output::clean(answer["due_at"].as_str().unwrap_or("-"))
                    )
                    .map_err(io)?,
                }
                if members.is_empty() {
                    return Ok(());
                }
            }
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| ["email", "role", "ends_at", "confirmed_by"].iter().map(|k| m[*k].as_str().unwrap_or("").to_string()).collect())
                .collect();
            output::print(out, format, &["E-MAIL", "ROLE", "ENDS", "CONFIRMED BY"], &rows, &answer).map_err(io)?;
        }
        Command::Invite { support_id, email, role, ends_at, withdraw, list } => {
            let answer = match (email, *list, *withdraw) {
                (_, true, _) => care.invitations(support_id).await?,
                (Some(email), _, true) => care.withdraw_invitation(support_id, email).await?,
                (Some(email), _, false) => care.invite(support_id, email, *role, ends_at.as_deref()).await?,
                (None, false, _) => return Err(CareError::Usage("an e-mail address, or --list".into())),
            };
            let invitations: Vec<Value> =
                if *list { answer["invitations"].as_array().cloned().unwrap_or_default() } else { vec![answer.clone()] };
            let rows: Vec<Vec<String>> = invitations
                .iter()
                .map(|i| {
                    let mut row: Vec<String> = ["support_id", "email", "role", "invited_by", "expires_at"]
                        .iter()
                        .map(|k| i[*k].as_str().unwrap_or("").to_string())
                        .collect();
                    row.push(if i["expired"].as_bool() == Some(true) { "expired".into() } else { "waiting".into() });
                    row
                })
                .collect();
            if format == Output::Table && *withdraw {
                writeln!(out, "withdrew the invitation of {}", output::clean(email.as_deref().unwrap_or(""))).map_err(io)?;
            }
            output::print(out, format, &["SITE", "E-MAIL", "ROLE", "INVITED BY", "EXPIRES", "STATE"], &rows, &answer).map_err(io)?;
        }
        Command::Rollout { command } => rollout(&care, command, format, out).await?,
        Command::Completions { .. } | Command::Login { .. } | Command::Logout | Command::Status => {}
    }
    Ok(())
}

async fn sign_in(cli: &Cli, no_browser: bool, out: &mut impl Write, open: impl FnOnce(&str) -> bool) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    let profile = cli.profile()?;
    profile::require_safe_url("the API", profile.api.as_deref().unwrap_or(LOCAL_API))?;
    let http = reqwest::Client::new();
    let endpoints = login::endpoints(&http, &profile).await?;
    let pending = login::start(&profile, &endpoints).await?;
    let opened = !no_browser && open(&pending.url);
    if opened {
        eprintln!("Opening the browser to sign in (profile {}). If it does not open, visit:\n  {}", profile.name, pending.url);
    } else {
        eprintln!("Open this URL in a browser on this machine to sign in (profile {}):\n  {}", profile.name, pending.url);
    }
    let creds = login::finish(&http, &profile, &endpoints, pending).await?;
    let place = cli.store(&profile).save(&creds)?;
    let email = secret::claims(&creds.id_token).get("email").and_then(|e| e.as_str()).map(output::clean).unwrap_or_default();
    writeln!(out, "Signed in as {email} (profile {}). The login is kept in {place}.", profile.name).map_err(io)
}

async fn sign_out(cli: &Cli, out: &mut impl Write) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    let profile = cli.profile()?;
    let store = cli.store(&profile);
    let Some((creds, _)) = store.load()? else {
        return writeln!(out, "Not signed in (profile {}).", profile.name).map_err(io);
    };
    let http = reqwest::Client::new();
    // Revoked first, so a copy of the refresh token is useless too; forgotten either way.
    let revoked = match login::endpoints(&http, &profile).await {
        Ok(endpoints) => login::revoke(&http, &profile, &endpoints, &creds).await.unwrap_or(false),
        Err(_) => false,
    };
    store.delete()?;
    let how = if revoked { "revoked at the identity provider and forgotten" } else { "forgotten (the provider could not revoke it)" };
    writeln!(out, "Signed out (profile {}): the login was {how}.", profile.name).map_err(io)
}

#[derive(serde::Serialize)]
struct StatusView {
    profile: String,
    api: String,
    issuer: Option<String>,
    signed_in: bool,
    email: Option<String>,
    care: bool,
    expires_at: Option<i64>,
    renewable: bool,
    stored_in: Option<String>,
}

async fn status(cli: &Cli, out: &mut impl Write) -> Result<(), CareError> {
    let io = |e: std::io::Error| CareError::Usage(e.to_string());
    let profile = cli.profile()?;
    let stored = cli.store(&profile).load()?;
    let claims = stored.as_ref().map(|(c, _)| secret::claims(&c.id_token)).unwrap_or_default();
    let groups = claims.get("groups").or_else(|| claims.get("cognito:groups")).and_then(|g| g.as_array()).cloned().unwrap_or_default();
    let view = StatusView {
        profile: profile.name.clone(),
        api: profile.api.clone().unwrap_or_else(|| LOCAL_API.into()),
        issuer: profile.issuer.clone(),
        signed_in: stored.is_some(),
        email: claims.get("email").and_then(|e| e.as_str()).map(output::clean),
        care: groups.iter().any(|g| g.as_str() == Some(abev::http::identity::CARE_GROUP)),
        expires_at: stored.as_ref().map(|(c, _)| c.expires_at),
        renewable: stored.as_ref().is_some_and(|(c, _)| c.refresh_token.is_some()),
        stored_in: stored.as_ref().map(|(_, place)| place.to_string()),
    };
    if cli.output() == Output::Json {
        print_json(out, &view).map_err(io)?;
    } else {
        writeln!(out, "profile:   {}\napi:       {}\nissuer:    {}", view.profile, view.api, view.issuer.as_deref().unwrap_or("-"))
            .map_err(io)?;
        match &stored {
            None => writeln!(out, "signed in: no (run `abev-care login`)").map_err(io)?,
            Some((creds, place)) => {
                let until = time::OffsetDateTime::from_unix_timestamp(creds.expires_at)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "signed in: {}{}\ntoken:     valid until {until}{}\nkept in:   {place}",
                    view.email.as_deref().unwrap_or("?"),
                    if view.care { " (Customer Care)" } else { "" },
                    if view.renewable { ", renewed automatically" } else { "" }
                )
                .map_err(io)?;
            }
        }
    }
    if view.signed_in {
        Ok(())
    } else {
        Err(CareError::Auth(format!("not signed in (profile {})", profile.name)))
    }
}

/// A decision's report: JSON, or one line, plus a warning when the queue copies stayed.
fn report_decision(out: &mut impl Write, decided: &Decided, format: Output, text: impl FnOnce() -> String) -> std::io::Result<()> {
    if format == Output::Json {
        return print_json(out, decided);
    }
    if format == Output::Csv {
        return output::print(out, format, REQUEST_HEADER, &request_rows(std::slice::from_ref(&decided.request)), decided);
    }
    match &decided.acknowledge_error {
        None => writeln!(out, "{}; removed {} queue message(s)", text(), decided.acknowledged),
        Some(e) => writeln!(
            out,
            "{}; the decision stands, but removing its Care-queue copies failed ({}): `abev-care queue` may still show it",
            text(),
            output::clean(e)
        ),
    }
}

async fn rollout(care: &Care, command: &RolloutCommand, format: Output, out: &mut impl Write) -> Result<(), CareError> {
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
            let rows: Vec<Vec<String>> = sites
                .iter()
                .map(|s: &EnabledSiteView| vec![s.support_id.to_string(), s.name.clone(), s.enabled_at.clone(), s.enabled_by.to_string()])
                .collect();
            let value = serde_json::json!({ "mode": mode, "sites": sites });
            if format == Output::Table {
                writeln!(out, "mode: {}", mode.as_str()).map_err(io)?;
            }
            return output::print(out, format, &["SITE", "NAME", "ENABLED", "BY"], &rows, &value).map_err(io);
        }
        RolloutCommand::Enable { support_ids, .. } => (support_ids, true),
        RolloutCommand::Disable { support_ids } => (support_ids, false),
    };
    let mut changes = Vec::new();
    for id in ids {
        changes.push(care.api.set_rollout(id, enabled).await.map_err(api_error)?);
    }
    output::print(out, format, &["SITE", "NAME", "VIEW", "CHANGE"], &change_rows(&changes), &changes).map_err(io)
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
        let cli = Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "admin", "-o", "csv"]).unwrap();
        assert!(matches!(cli.command, Command::Approve { role: Some(Role::Admin), .. }));
        assert_eq!(cli.output(), Output::Csv);
        assert!(Cli::try_parse_from(["abev-care", "--token", "eyJ", "list"]).is_err(), "a token is never an argument");
        assert!(Cli::try_parse_from(["abev-care", "-o", "xml", "list"]).is_err());
        assert!(Cli::try_parse_from(["abev-care", "--profile", "prod", "login", "--no-browser"]).is_ok());
        assert!(Cli::try_parse_from(["abev-care", "approve", "r1", "--role", "owner"]).is_err());
        assert!(Cli::try_parse_from(["abev-care", "reject", "r1"]).is_err(), "a rejection needs a reason");
    }

    #[test]
    fn exit_codes_tell_failures_apart() {
        let api = |status| CareError::Api { status, detail: String::new() };
        assert_eq!(CareError::Usage(String::new()).exit_code(), 2);
        assert_eq!(CareError::Auth(String::new()).exit_code(), 3);
        assert_eq!((api(401).exit_code(), api(403).exit_code(), api(404).exit_code(), api(409).exit_code()), (3, 3, 4, 5));
        assert_eq!(CareError::NotFound(String::new()).exit_code(), 4);
        assert_eq!(api(500).exit_code(), 1);
        let help = <Cli as clap::CommandFactory>::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("4  not found"), "{help}");
    }

    #[test]
    fn debug_of_a_command_line_hides_the_token() {
        let mut cli = Cli::try_parse_from(["abev-care", "list"]).unwrap();
        cli.token = Some(Token::new("eyJsecret.payload.sig"));
        assert!(!format!("{cli:?}").contains("eyJsecret"));
    }
}
