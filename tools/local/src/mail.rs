//! Expiry notices locally (issue 20 part 2): the timer standing in for the daily EventBridge
//! Scheduler schedule (`make dev`), the notices sent through moto's SES (the same server as
//! SQS), and `abev-local mail`, which prints what moto's SES accepted.

use abev::domain::access::Rollout;
use abev::notices::mailer::{local_ses_client, verify_identity, SesMailer};
use abev::notices::{NoticesSettings, Notifier};
use abev::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// The local sender (`ABEV_NOTICES_FROM`, else this): verified in moto at start-up.
pub const DEFAULT_FROM: &str = "notices@abev.local";

pub fn from_address() -> String {
    abev::config::optional("ABEV_NOTICES_FROM", DEFAULT_FROM)
}

/// The notices run as `make dev` runs it: moto's SES from a verified identity, links to the
/// local page and API on `port`.
pub async fn notifier(store: Store, sqs_url: &str, cursor_secret: &str, port: u16) -> Result<Notifier, String> {
    let from = from_address();
    let client = local_ses_client(sqs_url);
    verify_identity(&client, &from).await.map_err(|e| format!("verifying {from} in moto's SES: {e}"))?;
    let base = format!("http://127.0.0.1:{port}");
    let settings = NoticesSettings {
        table: store.table().to_string(),
        cursor_secret: cursor_secret.to_string(),
        from: from.clone(),
        web_url: base.clone(),
        api_url: base,
        rollout: Rollout::parse(&abev::config::optional("ABEV_ROLLOUT", "everyone")).unwrap_or_default(),
    };
    Ok(abev::notices::notifier(store, Arc::new(SesMailer { client, from, attempts: 4 }), &settings))
}

/// Runs the notices every `every` (the first run at once), until `stop`.
pub async fn run_every(notifier: Notifier, every: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                match notifier.run(time::OffsetDateTime::now_utc(), None).await {
                    Ok(r) if r.digests_sent > 0 => tracing::info!(digests = r.digests_sent, notices = r.notices_sent, "expiry notices sent (abev-local mail prints them)"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiry notices run failed"),
                }
            }
        }
    }
}

/// One e-mail moto's SES accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentMail {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Every e-mail moto's SES accepted from `from` (all senders when `None`), oldest first, from
/// moto's model dump (`GET /moto-api/data.json`: its SES backend keeps what it "sent").
pub async fn sent(sqs_url: &str, from: Option<&str>) -> Result<Vec<SentMail>, String> {
    let url = format!("{}/moto-api/data.json", sqs_url.trim_end_matches('/'));
    let data: serde_json::Value = reqwest_get(&url).await?;
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    Ok(messages
        .into_iter()
        .filter(|m| from.is_none_or(|f| m["source"] == f))
        .map(|m| SentMail {
            message_id: m["id"].as_str().unwrap_or_default().to_string(),
            from: m["source"].as_str().unwrap_or_default().to_string(),
            to: m["destinations"]["ToAddresses"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect(),
            subject: m["subject"].as_str().unwrap_or_default().to_string(),
            body: m["body"].as_str().unwrap_or_default().to_string(),
        })
        .collect())
}

/// A plain HTTP GET of a JSON document on loopback (moto), without another HTTP client.
async fn reqwest_get(url: &str) -> Result<serde_json::Value, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = parsed.host_str().ok_or_else(|| format!("{url}: no host"))?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let path = parsed.path().to_string();
    let asked = path.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<String, String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect((host.as_str(), port)).map_err(|e| format!("moto on {host}:{port}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let (status, body) = abev::config::secrets_extension::parse_response(&raw)?;
        if status != 200 {
            return Err(format!("moto answered {status} for {path}"));
        }
        Ok(body)
    })
    .await
    .map_err(|e| e.to_string())??;
    serde_json::from_str(&body).map_err(|e| format!("moto's {asked} is not JSON: {e}"))
}

/// `abev-local mail`: prints what moto's SES accepted from the local sender.
pub async fn print(sqs_url: &str, all: bool, json: bool) -> Result<(), String> {
    let from = from_address();
    let mails = sent(sqs_url, (!all).then_some(from.as_str())).await?;
    for m in &mails {
        if json {
            println!("{}", serde_json::to_string(m).map_err(|e| e.to_string())?);
        } else {
            println!("--- {} → {}\nSubject: {}\n\n{}", m.from, m.to.join(", "), m.subject, m.body.trim_end());
        }
    }
    if !json {
        eprintln!(
            "{} e-mail{} sent through moto's SES{}",
            mails.len(),
            if mails.len() == 1 { "" } else { "s" },
            if all { "" } else { " by the local notices" }
        );
    }
    Ok(())
}
