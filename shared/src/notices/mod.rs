//! Expiry notices (issue 20 part 2): a daily run e-mails each contact one digest of what they
//! can see that ends within 90, 30 and 7 days, each (contact, line, threshold) once.
//!
//! A run: **who** — the line items ending in the next 90 days (the end-day index `gsi5`, one
//! query per day and shard), their orders' heads (current version, reseller, ship-to
//! contacts), the members of their sites and resellers (`gsi1`): the contacts who may see one;
//! and the members whose own membership ends within 7 days (`MEMBER_ENDS#{day}`, issue 21's
//! access notice) — never a Scan;
//! then per contact (a few at a time) a **visit**:
//! 1. the setting (`NOTICE_PREFS#{e}`): off → nothing;
//! 2. the contact's lease (`NOTICE#{e}`/`LEASE`, conditional): another run has it → skip;
//! 3. read the contact's claims and sent digests, their memberships, and walk the **radar**
//!    (`Store::renewals`: the §2 rules, current versions of active orders only — a revoked or
//!    renewed line is not on it) for 90 days;
//! 4. plan (pure, `plan.rs`): claims of a sent digest → mark sent; pending claims not due →
//!    drop; what is due now → this digest: lines at 90/30/7 days, and each membership of the
//!    contact's own that ends within 7 days (once per end);
//! 5. claim each notice **before** the send (`pending`, conditional: never over a sent one);
//! 6. send (SES); 7. record the digest (`DIGEST#{id}`: the commit point); 8. mark the claims sent;
//! 9. give the lease back.
//!
//! Guarantees (docs/ARCHITECTURE.md, "Expiry notices"): a notice is never sent twice except
//! when SES accepted a digest and the run died, or lost SES's answer, before step 7; a notice
//! not sent (throttled, refused, run died before the send) is sent by a later run.

pub mod digest;
pub mod mailer;
pub mod plan;
pub mod token;

use crate::domain::access::{day_of, Rollout};
use crate::domain::{Day, Email, OrderId, SupportId};
use crate::store::notices::{EndingLine, Noticed};
use crate::store::view::{Renewal, RenewalWindow};
use crate::store::{Store, StoreError};
use digest::{Links, OutgoingMail};
use futures::StreamExt;
use mailer::{Mailer, SendError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::UnsubscribeKey;

/// The notices function's settings: `ABEV_TABLE`, `ABEV_CURSOR_SECRET` (the unsubscribe
/// links' key ring; in AWS read from `ABEV_CURSOR_SECRET_ARN` at start-up), `ABEV_NOTICES_FROM`
/// (a verified SES identity), `ABEV_WEB_URL` (the page: the radar link), `ABEV_API_URL` (the
/// unsubscribe link), `ABEV_ROLLOUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticesSettings {
    pub table: String,
    pub cursor_secret: String,
    pub from: String,
    pub web_url: String,
    pub api_url: String,
    pub rollout: Rollout,
}

impl NoticesSettings {
    pub fn from_env() -> Result<NoticesSettings, crate::config::ConfigError> {
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<NoticesSettings, crate::config::ConfigError> {
        let var = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| var(name).ok_or_else(|| crate::config::ConfigError { name, problem: "is not set".into() });
        let raw = var("ABEV_ROLLOUT").unwrap_or_else(|| "everyone".into());
        let rollout = Rollout::parse(&raw).ok_or_else(|| crate::config::ConfigError {
            name: "ABEV_ROLLOUT",
            problem: format!("{raw:?} is neither everyone nor waves"),
        })?;
        Ok(NoticesSettings {
            table: var("ABEV_TABLE").unwrap_or_else(|| crate::settings::DEFAULT_TABLE.into()),
            cursor_secret: required(crate::config::CURSOR_SECRET)?,
            from: required("ABEV_NOTICES_FROM")?,
            web_url: required("ABEV_WEB_URL")?,
            api_url: required("ABEV_API_URL")?,
            rollout,
        })
    }
}

/// The run: the store, the mailer, the links and their key.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub store: Store,
    pub mailer: Arc<dyn Mailer>,
    pub key: UnsubscribeKey,
    pub links: Links,
    pub rollout: Rollout,
    /// How long a contact's lease holds: a run that died leaves its contacts to the runs
    /// that start after it. A visit does not send once less than [`SEND_MARGIN`] is left.
    pub lease: Duration,
    /// Contacts visited at once.
    pub concurrency: usize,
}

/// A visit never starts a send with less than this left of its lease, so a send (its SES
/// call is bounded by the SDK's timeouts) ends before another run may take the contact.
pub const SEND_MARGIN: Duration = Duration::from_secs(60);
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

/// What a run did (also its log line).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub contacts: usize,
    pub digests_sent: usize,
    pub notices_sent: usize,
    pub nothing_due: usize,
    pub opted_out: usize,
    /// Another run held the contact's lease.
    pub busy: usize,
    /// The send failed (SES throttled or refused, or its answer was lost): left pending.
    pub failed: usize,
    /// Not visited before the run's deadline: the next run's.
    pub unvisited: usize,
}

/// How one visit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit {
    Sent {
        notices: usize,
    },
    NothingDue,
    OptedOut,
    Busy,
    /// Out of lease time before the send: the claims stay pending for the next run.
    OutOfTime,
}

/// A visit's failure: storage, or the send.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The radar's page size for a visit's walk.
const RADAR_PAGE: usize = 500;

impl Notifier {
    /// One run at `now`, visiting contacts until `deadline` (then the rest is the next run's).
    pub async fn run(&self, now: time::OffsetDateTime, deadline: Option<Instant>) -> Result<RunReport, StoreError> {
        let today = Day(now.date());
        let run_id = uuid::Uuid::new_v4().to_string();
        let run_started = Instant::now();
        let contacts = self.contacts_to_visit(today).await?;
        let mut report = RunReport { contacts: contacts.len(), ..RunReport::default() };
        let visits = futures::stream::iter(contacts)
            .map(|email| {
                let run_id = run_id.clone();
                async move {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return (email, None);
                    }
                    // The run's clock moves on: a lease taken late in a long run lasts from then.
                    let at = now + run_started.elapsed();
                    let outcome = self.visit(&email, today, at, &run_id).await;
                    (email, Some(outcome))
                }
            })
            .buffer_unordered(self.concurrency.max(1));
        futures::pin_mut!(visits);
        while let Some((email, outcome)) = visits.next().await {
            match outcome {
                None => report.unvisited += 1,
                Some(Ok(Visit::Sent { notices })) => {
                    report.digests_sent += 1;
                    report.notices_sent += notices;
                }
                Some(Ok(Visit::NothingDue)) => report.nothing_due += 1,
                Some(Ok(Visit::OptedOut)) => report.opted_out += 1,
                Some(Ok(Visit::Busy)) => report.busy += 1,
                Some(Ok(Visit::OutOfTime)) => report.unvisited += 1,
                Some(Err(e)) => {
                    report.failed += 1;
                    tracing::error!(contact = %email, error = %e, "notice digest not sent; left for the next run");
                }
            }
        }
        tracing::info!(
            run = run_id,
            contacts = report.contacts,
            digests_sent = report.digests_sent,
            notices_sent = report.notices_sent,
            opted_out = report.opted_out,
            busy = report.busy,
            failed = report.failed,
            unvisited = report.unvisited,
            "notices run"
        );
        Ok(report)
    }

    /// Every contact who may see a line ending within the window: the members of the lines'
    /// sites and of their orders' resellers, and their orders' ship-to contacts. Lines of a
    /// version that is not its order's current one, or of a cancelled order, lead nowhere.
    pub async fn contacts_to_visit(&self, today: Day) -> Result<BTreeSet<Email>, StoreError> {
        let days: Vec<Day> = (0..=i64::from(plan::WINDOW_DAYS)).map(|d| Day(today.0 + time::Duration::days(d))).collect();
        let lines: Vec<EndingLine> = futures::stream::iter(days.into_iter().map(|d| async move { self.store.lines_ending_on(d).await }))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let orders: BTreeSet<OrderId> = lines.iter().map(|l| l.order_id.clone()).collect();
        let heads = self.store.order_heads(&orders).await?;
        let mut sites: BTreeSet<SupportId> = BTreeSet::new();
        let mut contacts: BTreeSet<Email> = BTreeSet::new();
        for line in &lines {
            let Some(head) = heads.get(&line.order_id).filter(|h| h.is_active() && h.current_version == line.version) else { continue };
            sites.insert(line.site.clone());
            sites.extend(head.reseller.clone());
            contacts.extend(head.ship_to_contacts.iter().cloned());
        }
        // Owned sites: a stream over borrowed ones is not `Send` for every lifetime (tokio::spawn).
        let members = futures::stream::iter(sites.into_iter().map(|site| async move { self.store.site_member_emails(&site).await }))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        for m in members {
            contacts.extend(m?);
        }
        // Members whose own membership ends within the access notice's reach (issue 21: a
        // lapsed review, an end date): the membership end index, one consistent query a day.
        let access_days = (0..=plan::ACCESS_NOTICE.whole_days()).map(|d| day_of(today.0 + time::Duration::days(d)));
        let ending = futures::stream::iter(access_days.map(|d| async move { self.store.memberships_ending_on(&d).await }))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        for e in ending {
            contacts.extend(e?.into_iter().map(|m| m.email));
        }
        Ok(contacts)
    }

    /// One contact's visit (see the module's steps). The lease is given back however the
    /// visit ends, unless the process dies: then it runs out.
    pub async fn visit(&self, email: &Email, today: Day, now: time::OffsetDateTime, run: &str) -> Result<Visit, NoticeError> {
        if !self.store.notices_enabled(email).await? {
            return Ok(Visit::OptedOut);
        }
        let started = Instant::now();
        let until = now.unix_timestamp() + self.lease.as_secs() as i64;
        if !self.store.take_notice_lease(email, run, now.unix_timestamp(), until).await? {
            return Ok(Visit::Busy);
        }
        let outcome = self.visit_leased(email, today, now, run, started).await;
        if let Err(e) = self.store.release_notice_lease(email, run).await {
            tracing::warn!(contact = %email, error = %e, "notice lease not released; it runs out");
        }
        outcome
    }

    async fn visit_leased(
        &self,
        email: &Email,
        today: Day,
        now: time::OffsetDateTime,
        run: &str,
        started: Instant,
    ) -> Result<Visit, NoticeError> {
        let (state, lines, memberships) =
            futures::try_join!(self.store.notice_state(email), self.radar(email, today), self.store.contact_memberships(email))?;
        let plan = plan::plan_contact(today, &lines, &state);
        let access = plan::plan_access(now, &memberships, &state);
        for (claim, digest) in settled(&plan.finish).chain(settled(&access.finish)) {
            self.store.mark_notice_sent(email, claim, digest).await?;
        }
        for (claim, digest) in settled(&plan.drop).chain(settled(&access.drop)) {
            self.store.drop_notice_claim(email, claim, digest).await?;
        }
        if plan.send.is_empty() && access.send.is_empty() {
            return Ok(Visit::NothingDue);
        }
        let digest_id = uuid::Uuid::new_v4().simple().to_string();
        let due = self.claim_each(email, plan.send, |d| &d.claim, &digest_id, run).await?;
        let access_due = self.claim_each(email, access.send, |d| &d.claim, &digest_id, run).await?;
        if due.is_empty() && access_due.is_empty() {
            return Ok(Visit::NothingDue);
        }
        if started.elapsed() + SEND_MARGIN > self.lease {
            return Ok(Visit::OutOfTime);
        }
        let sites = self.site_names(&access_due).await?;
        let mail: OutgoingMail = digest::render(
            email,
            &digest::Contents { due: &due, lines: &lines, access: &access_due, sites: &sites },
            &self.links,
            &self.key.sign(email),
            &digest_id,
        );
        let message_id = self.mailer.send(&mail).await?;
        let sent: Vec<&dyn Noticed> =
            due.iter().map(|d| &d.claim as &dyn Noticed).chain(access_due.iter().map(|d| &d.claim as &dyn Noticed)).collect();
        let notices: Vec<String> = sent.iter().map(|c| c.label()).collect();
        self.store.record_digest_sent(email, &digest_id, &message_id, &notices, &now.to_string()).await?;
        for claim in &sent {
            self.store.mark_notice_sent(email, *claim, &digest_id).await?;
        }
        tracing::info!(contact = %email, digest = digest_id, message_id, notices = sent.len(), "notice digest sent");
        Ok(Visit::Sent { notices: sent.len() })
    }

    /// Reserves each notice of `due` for `digest` (`claim_notice`); those sent already are left out.
    async fn claim_each<T>(
        &self,
        email: &Email,
        due: Vec<T>,
        claim: impl Fn(&T) -> &dyn Noticed,
        digest: &str,
        run: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut claimed = Vec::with_capacity(due.len());
        for d in due {
            if self.store.claim_notice(email, claim(&d), digest, run).await? {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// The names of the sites an access notice is about (a site record each; a site gone
    /// since is named by its Support ID alone).
    async fn site_names(&self, due: &[plan::AccessDue]) -> Result<BTreeMap<String, String>, StoreError> {
        let mut names = BTreeMap::new();
        for d in due {
            let Ok(site) = SupportId::parse(&d.claim.site) else { continue };
            if let Some(meta) = self.store.site_meta(&site).await? {
                names.insert(d.claim.site.clone(), meta.name);
            }
        }
        Ok(names)
    }

    /// What the radar shows the contact within the window, every page.
    async fn radar(&self, email: &Email, today: Day) -> Result<Vec<Renewal>, StoreError> {
        let window = RenewalWindow::days_from(today, plan::WINDOW_DAYS);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.renewals(email, self.rollout, window, after.as_deref(), RADAR_PAGE, today).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// Claims with their digests, as the store takes them.
fn settled<K: Noticed>(claims: &[(K, String)]) -> impl Iterator<Item = (&dyn Noticed, &str)> {
    claims.iter().map(|(k, d)| (k as &dyn Noticed, d.as_str()))
}

/// The notices function's handler, built from the environment (`main` calls it after
/// `config::load_cursor_secret`).
pub async fn notifier_from_aws(settings: &NoticesSettings) -> Notifier {
    let config = crate::aws::sdk_config().await;
    let store = Store::new(crate::aws::dynamodb_client(&config), settings.table.clone());
    let mailer = mailer::SesMailer { client: mailer::ses_client(&config), from: settings.from.clone(), attempts: 4 };
    notifier(store, Arc::new(mailer), settings)
}

/// A notifier over `store` and `mailer` (the local host and tests build theirs here too).
pub fn notifier(store: Store, mailer: Arc<dyn Mailer>, settings: &NoticesSettings) -> Notifier {
    Notifier {
        store,
        mailer,
        key: UnsubscribeKey::new(&settings.cursor_secret),
        links: Links { web_url: settings.web_url.clone(), api_url: settings.api_url.clone() },
        rollout: settings.rollout,
        lease: DEFAULT_LEASE,
        concurrency: 4,
    }
}

/// The scheduled invocation: one run, with a minute of the invocation's time kept back. A run
/// with failed sends or contacts left unvisited is an error (the function's Errors alarm; the
/// asynchronous invocation's retries run it again: claims make that safe).
pub async fn handle_schedule(notifier: &Notifier, remaining: Option<Duration>) -> Result<RunReport, String> {
    let deadline = remaining.map(|r| Instant::now() + r.saturating_sub(Duration::from_secs(60)));
    let report = notifier.run(time::OffsetDateTime::now_utc(), deadline).await.map_err(|e| e.to_string())?;
    if report.failed > 0 || report.unvisited > 0 {
        return Err(format!("notices run incomplete: {} failed, {} not visited (left for the next run)", report.failed, report.unvisited));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_what_the_function_needs() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let all = NoticesSettings::from_vars(&vars(&[
            ("ABEV_CURSOR_SECRET", "k"),
            ("ABEV_NOTICES_FROM", "notices@abev.example"),
            ("ABEV_WEB_URL", "https://web.example"),
            ("ABEV_API_URL", "https://api.example"),
        ]))
        .unwrap();
        assert_eq!((all.table.as_str(), all.rollout), ("abev", Rollout::Everyone));
        let missing = NoticesSettings::from_vars(&vars(&[("ABEV_CURSOR_SECRET", "k"), ("ABEV_WEB_URL", "w"), ("ABEV_API_URL", "a")]));
        assert_eq!(missing.unwrap_err().name, "ABEV_NOTICES_FROM");
    }
}
