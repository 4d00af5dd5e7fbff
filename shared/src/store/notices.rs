//! Expiry notices (issue 20 part 2): the items of `notices/` — who to visit (line items by
//! end day, `gsi5`; order heads; site members), a contact's claims, sent digests and run
//! lease (`NOTICE#{e}`), and the contact's setting (`NOTICE_PREFS#{e}`). The decisions are in
//! `crate::notices::plan`; this module only reads and writes.

use super::keys::{self, Item, Key};
use super::table::{Query, Range};
use super::tx::Cond;
use super::{from_item, get_s, n, req_s, s, Store, StoreError};
use crate::domain::entitlement::OrderHead;
use crate::domain::{Day, Email, OrderId, SupportId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeSet, HashMap};

/// A claim's state: reserved for a digest not yet known to be sent, or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// Written before the send; `digest` names the digest it was reserved for.
    Pending {
        digest: String,
    },
    Sent {
        digest: String,
    },
}

/// One notice claim: (contact, serial, end day, threshold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeClaim {
    pub serial: String,
    pub ends_on: String,
    pub threshold: u32,
    pub state: ClaimState,
}

/// One access notice claim: (contact, site, the membership's end) — the contact is told once,
/// before their own membership of the site ends at `ends_at` (issue 21: a lapsed access review,
/// an end date an admin set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessNoticeClaim {
    pub key: AccessNoticeKey,
    pub state: ClaimState,
}

/// What a contact's notice partition holds: its claims, the digests SES accepted, the lease.
#[derive(Debug, Clone, Default)]
pub struct NoticeState {
    pub claims: Vec<NoticeClaim>,
    pub access_claims: Vec<AccessNoticeClaim>,
    pub sent_digests: BTreeSet<String>,
}

/// One line item the end-day index lists: enough to find who may see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndingLine {
    pub order_id: OrderId,
    pub version: u64,
    pub serial: String,
    pub site: SupportId,
}

const STATE: &str = "notice_state";
const PENDING: &str = "pending";
const SENT: &str = "sent";
const DIGEST: &str = "notice_digest";
const RUN: &str = "notice_run";
const TTL: &str = "ttl";

/// Epoch seconds of a day's midnight (UTC) plus `days`.
fn epoch_after(day: &str, days: i64) -> i64 {
    Day::parse(day)
        .map(|d| d.0.midnight().assume_utc().unix_timestamp() + days * 86_400)
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp() + days * 86_400)
}

/// Claims stay a while after their line's end (a renewal that moves the end back is a new
/// term with its own claims), then DynamoDB's TTL deletes them at no write cost.
pub const CLAIM_RETENTION_DAYS: i64 = 30;
/// Sent digests outlive every claim that can name them (claims end ≤ 90 + 30 days after).
pub const DIGEST_RETENTION_DAYS: i64 = 180;

impl Store {
    /// Every line item ending on `day`, any version (the radar decides what is current), from
    /// the end-day index (`gsi5`, eventually consistent: a discovery list, not a visibility
    /// check): one query per shard of the day, all at once.
    pub async fn lines_ending_on(&self, day: Day) -> Result<Vec<EndingLine>, StoreError> {
        let shards =
            keys::ends_on_gsi5pks(day).map(|pk| self.query_all(Query::index("Query lines ending on a day", keys::GSI5, pk, Range::All)));
        let items = futures::future::try_join_all(shards).await?;
        Ok(items.iter().flatten().filter_map(ending_line).collect())
    }

    /// Order heads by id (eventually consistent: discovery only), absent ones left out.
    pub async fn order_heads(&self, orders: &BTreeSet<OrderId>) -> Result<HashMap<OrderId, OrderHead>, StoreError> {
        if orders.is_empty() {
            return Ok(HashMap::new());
        }
        let items = self.batch_get("BatchGetItem order heads", orders.iter().map(keys::order_head).collect(), false).await?;
        let mut heads = HashMap::new();
        for item in items {
            let head: OrderHead = from_item(item)?;
            heads.insert(head.order_id.clone(), head);
        }
        Ok(heads)
    }

    /// The e-mail of every member of a site, from the members index (`gsi1`, keys only).
    pub async fn site_member_emails(&self, site: &SupportId) -> Result<Vec<Email>, StoreError> {
        let q = Query::index("Query site members", keys::GSI1, keys::site_members_gsi1pk(site), Range::All).keys_only();
        let items = self.query_all(q).await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, keys::GSI1_SK))
            .filter_map(|sk| sk.split_once('#').map(|(_, e)| e))
            .filter_map(|e| Email::parse(e).ok())
            .collect())
    }

    /// Whether a contact receives notices: `true` unless they turned them off.
    pub async fn notices_enabled(&self, email: &Email) -> Result<bool, StoreError> {
        let item = self.get("GetItem notice settings", &keys::notice_settings(email), true).await?;
        Ok(item.and_then(|i| i.get("enabled").and_then(|v| v.as_bool().ok()).copied()).unwrap_or(true))
    }

    /// Sets a contact's notice setting (a plain put: the same request twice is the same state).
    pub async fn set_notices_enabled(&self, email: &Email, enabled: bool, at: &str, via: &str) -> Result<(), StoreError> {
        let mut item = keys::notice_settings(email).to_item();
        item.insert("email".into(), s(email.as_str()));
        item.insert("enabled".into(), AttributeValue::Bool(enabled));
        item.insert("updated_at".into(), s(at));
        item.insert("updated_via".into(), s(via));
        self.put("PutItem notice settings", item, None).await?;
        Ok(())
    }

    /// A contact's claims and sent digests, consistently (one partition).
    pub async fn notice_state(&self, email: &Email) -> Result<NoticeState, StoreError> {
        let items = self.query_all(Query::table("Query notice state", keys::notice_pk(email), Range::All)).await?;
        let mut state = NoticeState::default();
        for item in &items {
            let sk = req_s(item, keys::SK)?;
            let claim_state = || {
                let digest = get_s(item, DIGEST).unwrap_or_default().to_string();
                match get_s(item, STATE) {
                    Some(SENT) => ClaimState::Sent { digest },
                    _ => ClaimState::Pending { digest },
                }
            };
            if let Some(id) = sk.strip_prefix(keys::NOTICE_DIGEST_PREFIX) {
                state.sent_digests.insert(id.to_string());
            } else if let Some((serial, ends_on, threshold)) = keys::parse_notice_claim(sk) {
                state.claims.push(NoticeClaim { serial: serial.into(), ends_on: ends_on.into(), threshold, state: claim_state() });
            } else if let Some((site, ends_at)) = keys::parse_notice_access_claim(sk) {
                let key = AccessNoticeKey { site: site.into(), ends_at: ends_at.into() };
                state.access_claims.push(AccessNoticeClaim { key, state: claim_state() });
            }
        }
        Ok(state)
    }

    /// Takes the contact's run lease until `until` (epoch seconds) if nobody holds it at `now`
    /// (or this run already does: a retried put after a lost answer). `false`: another run has it.
    pub async fn take_notice_lease(&self, email: &Email, run: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        let mut item = keys::notice_lease(email).to_item();
        item.insert(RUN.into(), s(run));
        item.insert("lease_until".into(), n(until));
        item.insert(TTL.into(), n(until + 86_400));
        let cond =
            Cond::new("attribute_not_exists(#pk) OR lease_until < :now OR notice_run = :run").value(":now", n(now)).value(":run", s(run));
        self.put("PutItem notice lease", item, Some(cond)).await
    }

    /// Gives the lease back (only this run's).
    pub async fn release_notice_lease(&self, email: &Email, run: &str) -> Result<(), StoreError> {
        self.delete("DeleteItem notice lease", &keys::notice_lease(email), Some(Cond::new("notice_run = :run").value(":run", s(run))))
            .await?;
        Ok(())
    }

    /// Reserves a notice for `digest` before the send: written if there is no claim yet, or
    /// only a pending one (a run that died before its send). `false`: it was sent already.
    pub async fn claim_notice(&self, email: &Email, notice: &dyn Noticed, digest: &str, run: &str) -> Result<bool, StoreError> {
        let mut item = notice.claim_key(email).to_item();
        item.insert(STATE.into(), s(PENDING));
        item.insert(DIGEST.into(), s(digest));
        item.insert(RUN.into(), s(run));
        item.insert(TTL.into(), n(epoch_after(notice.ends_on(), CLAIM_RETENTION_DAYS)));
        let cond = Cond::new("attribute_not_exists(#pk) OR notice_state = :pending").value(":pending", s(PENDING));
        self.put("PutItem notice claim", item, Some(cond)).await
    }

    /// Records that SES accepted `digest`: one item, the commit point of a send (a claim still
    /// pending for a digest recorded here was sent).
    pub async fn record_digest_sent(
        &self,
        email: &Email,
        digest: &str,
        message_id: &str,
        notices: &[String],
        at: &str,
    ) -> Result<(), StoreError> {
        let mut item = keys::notice_digest(email, digest).to_item();
        item.insert("message_id".into(), s(message_id));
        item.insert("sent_at".into(), s(at));
        if !notices.is_empty() {
            item.insert("notices".into(), AttributeValue::L(notices.iter().map(|x| s(x.as_str())).collect()));
        }
        item.insert(TTL.into(), n(time::OffsetDateTime::now_utc().unix_timestamp() + DIGEST_RETENTION_DAYS * 86_400));
        self.put("PutItem notice digest", item, None).await?;
        Ok(())
    }

    /// Marks a claim sent (by its digest: idempotent, and a claim re-reserved for another
    /// digest meanwhile is left alone).
    pub async fn mark_notice_sent(&self, email: &Email, claim: &dyn Noticed, digest: &str) -> Result<bool, StoreError> {
        let key = claim.claim_key(email);
        let cond = Cond::new("notice_digest = :digest").value(":digest", s(digest));
        self.update("UpdateItem notice sent", &key, "SET notice_state = :sent", vec![(":sent", s(SENT))], Some(cond)).await
    }

    /// Drops a pending claim that is no longer due (its line was revoked, renewed, or its
    /// threshold passed before it was sent), only if still pending for that digest.
    pub async fn drop_notice_claim(&self, email: &Email, claim: &dyn Noticed, digest: &str) -> Result<bool, StoreError> {
        let cond =
            Cond::new("notice_state = :pending AND notice_digest = :digest").value(":pending", s(PENDING)).value(":digest", s(digest));
        self.delete("DeleteItem notice claim", &claim.claim_key(email), Some(cond)).await
    }
}

/// What a notice claim is about: its item in the contact's notice partition, the day after
/// which it is kept [`CLAIM_RETENTION_DAYS`], and its name in a sent digest's record.
pub trait Noticed: Sync {
    fn claim_key(&self, email: &Email) -> Key;
    fn ends_on(&self) -> &str;
    fn label(&self) -> String;
}

impl Noticed for NoticeClaimKey {
    fn claim_key(&self, email: &Email) -> Key {
        keys::notice_claim(email, &self.serial, &self.ends_on, self.threshold)
    }
    fn ends_on(&self) -> &str {
        &self.ends_on
    }
    fn label(&self) -> String {
        format!("{}#{}#{}", self.serial, self.ends_on, self.threshold)
    }
}

/// An access notice's identity: the site and the membership's end (a new end is a new notice).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessNoticeKey {
    pub site: String,
    pub ends_at: String,
}

impl Noticed for AccessNoticeKey {
    fn claim_key(&self, email: &Email) -> Key {
        keys::notice_access_claim(email, &self.site, &self.ends_at)
    }
    fn ends_on(&self) -> &str {
        self.ends_at.get(..10).unwrap_or(&self.ends_at)
    }
    fn label(&self) -> String {
        format!("{}{}#{}", keys::NOTICE_ACCESS_PREFIX, self.site, self.ends_at)
    }
}

/// A claim's identity without its state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoticeClaimKey {
    pub serial: String,
    pub ends_on: String,
    pub threshold: u32,
}

impl NoticeClaim {
    pub fn key(&self) -> NoticeClaimKey {
        NoticeClaimKey { serial: self.serial.clone(), ends_on: self.ends_on.clone(), threshold: self.threshold }
    }
}

fn ending_line(item: &Item) -> Option<EndingLine> {
    let order_id = OrderId::parse(keys::order_of_pk(get_s(item, keys::PK)?)?).ok()?;
    let (version, serial) = keys::parse_line_sk(get_s(item, keys::SK)?)?;
    let site = SupportId::parse(keys::site_of_entitlements_gsi1pk(get_s(item, keys::GSI1_PK)?)?).ok()?;
    Some(EndingLine { order_id, version, serial: serial.to_string(), site })
}
