//! The store side of claims by proof of purchase (issue 21): the claim record
//! (`SITE#{s}`/`CLAIM#{e}`), a contact's wrong attempts (`CONTACT#{e}`/`CLAIM_ATTEMPTS`), and
//! the reads a claim needs. The rules that decide what to write are `crate::access::claim_rules`;
//! the writes themselves are [`super::access::Write`] variants, committed by the workflow's one
//! transaction loop.
//!
//! A claim reads in two sequential rounds: (1) the order head (consistent) and the caller's
//! attempts; (2) one consistent BatchGetItem of the current line (by key, from the head's
//! version), the end-customer site's record, the caller's membership there and the caller's
//! claim record. The commit re-checks the head (same version, still active) and the line.

use super::keys::{self, Item, Key};
use super::{from_item, get_n, get_s, to_item, Store, StoreError};
use crate::domain::entitlement::OrderHead;
use crate::domain::{Email, OrderId, Role, Serial, SupportId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::domain::access::Stamp;

/// The attribute of a site record holding its claim-revocation window in days.
pub const CLAIM_REVOCATION_DAYS: &str = "claim_revocation_days";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// The claimant got the membership (and keeps it unless an admin revokes in the window).
    Active,
    /// An admin (or Care) revoked it within the window; the claimant may not claim the site again.
    Revoked,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Active => "active",
            ClaimStatus::Revoked => "revoked",
        }
    }
}

/// A claim of a site by one contact, with the proof they gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    pub serial: Serial,
    pub order_id: OrderId,
    pub claimed_at: Stamp,
    /// Until when the site's admins (or Care) may revoke the claim.
    pub revocable_until: Stamp,
    pub status: ClaimStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Stamp>,
    /// The id of the notice Care got when the site had no admin (de-duplication key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<String>,
}

impl ClaimRecord {
    pub fn key(&self) -> Key {
        keys::site_claim(&self.support_id, &self.email)
    }
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(self.key().to_item());
        Ok(item)
    }
}

/// A contact's wrong claim attempts: each distinct wrong (order, serial) pair by digest, with
/// when it was first tried, and the lock-out they earned. `revision` makes every write
/// conditional on the item as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimAttempts {
    #[serde(default)]
    pub failures: BTreeMap<String, Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Stamp>,
    #[serde(default)]
    pub revision: i64,
}

impl ClaimAttempts {
    pub fn to_item(&self, email: &Email) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(keys::claim_attempts(email).to_item());
        Ok(item)
    }
}

/// What a claim reads of the order and the site, in its second round.
#[derive(Debug, Clone, Default)]
pub struct ClaimTarget {
    /// The serial is a line of the head's current version.
    pub line_found: bool,
    pub site: Option<super::access::SiteMeta>,
    pub membership: Option<Role>,
    pub claim: Option<ClaimRecord>,
}

/// A site's claim-revocation window as its record says (`None`: the default).
pub(crate) fn revocation_days(item: &Item) -> Option<i64> {
    get_n(item, CLAIM_REVOCATION_DAYS)
}

impl Store {
    /// The caller's wrong attempts, read consistently.
    pub async fn claim_attempts(&self, email: &Email) -> Result<Option<ClaimAttempts>, StoreError> {
        match self.get("GetItem claim attempts", &keys::claim_attempts(email), true).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Round 2 of a claim: the head's current line of `serial`, the end-customer site, the
    /// caller's membership and claim there — one consistent BatchGetItem.
    pub async fn claim_target(&self, head: &OrderHead, serial: &Serial, email: &Email) -> Result<ClaimTarget, StoreError> {
        let site = &head.end_customer;
        let line_key = keys::order_line(&head.order_id, head.current_version, serial);
        let wanted = vec![line_key.clone(), keys::site_meta(site), keys::membership(email, site), keys::site_claim(site, email)];
        let items = self.batch_get("BatchGetItem claim target", wanted, true).await?;
        let is = |item: &Item, key: &Key| get_s(item, keys::PK) == Some(key.pk.as_str()) && get_s(item, keys::SK) == Some(key.sk.as_str());
        let mut target = ClaimTarget::default();
        for item in &items {
            if is(item, &line_key) {
                target.line_found = true;
            } else if is(item, &keys::site_meta(site)) {
                target.site = Some(super::access::site_meta_of(site, item));
            } else if is(item, &keys::membership(email, site)) {
                target.membership = get_s(item, "role").and_then(|r| Role::parse(r).ok());
            } else if is(item, &keys::site_claim(site, email)) {
                target.claim = Some(from_item(item.clone())?);
            }
        }
        Ok(target)
    }

    /// One contact's claim of a site, read consistently.
    pub async fn site_claim(&self, site: &SupportId, email: &Email) -> Result<Option<ClaimRecord>, StoreError> {
        match self.get("GetItem site claim", &keys::site_claim(site, email), true).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// A page of a site's claims, by claimant e-mail (consistent: one partition range).
    pub async fn site_claims_page(
        &self,
        site: &SupportId,
        start: Option<&super::access::PageKey>,
        limit: usize,
    ) -> Result<(Vec<ClaimRecord>, Option<super::access::PageKey>), StoreError> {
        let listing = super::access::Listing {
            op: "Query site claims",
            index: None,
            pk: keys::site_pk(site),
            prefix: Some(keys::CLAIM_PREFIX),
            forward: true,
        };
        let page = self.page(&listing, start, limit, true).await?;
        let claims = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((claims, page.next))
    }
}
