//! The store side of site management (spec §5): memberships, access requests, their work
//! lists, the Care-queue outbox and the site history. The workflow that decides what to
//! write is `crate::access`; this module owns the item shapes, the reads and the
//! transaction items (every key comes from `keys`).
//!
//! Items of one access request `R` for site `S` by contact `E` (keys in `keys.rs`):
//! - the request `REQUEST#{R}`/`REQUEST` (gsi1 `SITE#{S}#REQUESTS`, gsi2 `CONTACT#{E}#REQUESTS`);
//! - while open: the marker `CONTACT#{E}`/`OPEN#{S}` (at most one open request per contact
//!   and site: created with `attribute_not_exists`);
//! - while `pending_admin`: `PENDING#{day}`/`{at}#{R}` (the SLA sweep's day index) and
//!   `SITE#{S}`/`PENDING#{at}#{R}` (the site admins' work list);
//! - while `escalated`: `CARE#ESCALATED`/`{at}#{R}` (Care's work list);
//! - from escalation until the Care message is sent: `OUTBOX#CARE`/`ESCALATION#{R}`.
//!
//! Every state change of a request moves all of these in one transaction, together with
//! its history entries, so the work lists never disagree with the requests.

use super::access_claims::{ClaimAttempts, ClaimRecord, ClaimStatus};
use super::keys::{self, Item, Key};
use super::table::{Query, Range};
pub use super::tx::{tx_check, tx_delete, tx_put, tx_update, Cond};
use super::{from_item, get_n, get_s, req_s, s, to_item, Store, StoreError};
use crate::domain::{Email, OrderId, Role, Serial, SupportId};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use crate::domain::access::{EscalationReason, HistoryAction, RequestId, RequestKind, RequestStatus, Stamp};

/// An access request: the §5 wire shape plus `granted_role`, `escalated_at` and
/// `escalation_reason`. `reason` is the decision's reason (a rejection's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub request_id: RequestId,
    pub support_id: SupportId,
    pub site_name: String,
    pub requester_email: Email,
    pub kind: RequestKind,
    pub requested_role: Role,
    pub status: RequestStatus,
    pub created_at: Stamp,
    pub decided_by: Option<Email>,
    pub decided_at: Option<Stamp>,
    pub reason: Option<String>,
    /// The role an approval granted (Care may grant another than requested).
    pub granted_role: Option<Role>,
    pub escalated_at: Option<Stamp>,
    pub escalation_reason: Option<EscalationReason>,
}

impl AccessRequest {
    /// The UTC day (`YYYY-MM-DD`) of `created_at`: the `PENDING#{day}` partition.
    pub fn day(&self) -> &str {
        self.created_at.day()
    }
    pub fn key(&self) -> Key {
        keys::request(self.request_id.as_str())
    }
    pub fn open_marker(&self) -> Key {
        keys::open_request(&self.requester_email, &self.support_id)
    }
    pub fn pending_day_marker(&self) -> Key {
        keys::pending_marker(self.day(), self.created_at.as_str(), self.request_id.as_str())
    }
    pub fn site_pending_marker(&self) -> Key {
        keys::site_pending(&self.support_id, self.created_at.as_str(), self.request_id.as_str())
    }
    pub fn care_marker(&self) -> Key {
        keys::care_escalated(self.created_at.as_str(), self.request_id.as_str())
    }
    pub fn outbox_key(&self) -> Key {
        keys::outbox_escalation(self.request_id.as_str())
    }
    /// The item that marks this request in a work list or index (`key`: which one).
    pub fn marker_item(&self, key: &Key) -> Item {
        let mut item = key.to_item();
        item.insert("request_id".into(), s(self.request_id.as_str()));
        item.insert("support_id".into(), s(self.support_id.as_str()));
        item.insert("created_at".into(), s(self.created_at.as_str()));
        item
    }

    /// The whole stored item, index keys included.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(self.key().to_item());
        item.insert(keys::GSI1_PK.into(), s(keys::site_requests_gsi1pk(&self.support_id)));
        item.insert(keys::GSI1_SK.into(), s(keys::request_index_sk(self.created_at.as_str(), self.request_id.as_str())));
        item.insert(keys::GSI2_PK.into(), s(keys::contact_requests_gsi2pk(&self.requester_email)));
        item.insert(keys::GSI2_SK.into(), s(keys::request_index_sk(self.created_at.as_str(), self.request_id.as_str())));
        Ok(item)
    }
}

/// What the access workflow needs of a site record.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteMeta {
    pub support_id: SupportId,
    pub name: String,
    /// Members whose role is `admin`; kept exact by every transaction that changes one.
    pub admin_count: i64,
    /// Rollout waves: the view is enabled for this site (`view_enabled` on the record).
    pub view_enabled: bool,
    /// The site has resold: its members carry reseller markers (R3).
    pub resells: bool,
    /// The site's claim-revocation window in days, if it set one (issue 21; default 7).
    pub claim_revocation_days: Option<i64>,
}

/// A site record as the access workflow reads it.
pub(crate) fn site_meta_of(site: &SupportId, i: &Item) -> SiteMeta {
    SiteMeta {
        support_id: site.clone(),
        name: get_s(i, "name").unwrap_or(site.as_str()).to_string(),
        admin_count: get_n(i, "admin_count").unwrap_or(0),
        view_enabled: i.get(VIEW_ENABLED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        resells: super::items::site_resells(i),
        claim_revocation_days: super::access_claims::revocation_days(i),
    }
}

/// One membership (the item ingestion provisions and this workflow changes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Membership {
    pub email: Email,
    pub support_id: SupportId,
    pub role: Role,
    pub since: Option<String>,
    /// When the membership ends (issue 21): from then on it shows nothing.
    pub ends_at: Option<String>,
}

/// The memberships among `items` still in force now (an ended one is gone, swept or not).
fn in_force_now(items: &[Item]) -> Vec<Membership> {
    let now = Stamp::of(time::OffsetDateTime::now_utc());
    items.iter().filter_map(Membership::from_item).filter(|m| m.in_force(&now)).collect()
}

impl Membership {
    fn from_item(item: &Item) -> Option<Membership> {
        Some(Membership {
            email: Email::parse(get_s(item, "email")?).ok()?,
            support_id: SupportId::parse(get_s(item, "support_id")?).ok()?,
            role: Role::parse(get_s(item, "role")?).ok()?,
            since: get_s(item, "since").map(str::to_string),
            ends_at: super::access_expiry::ends_at_of(item).map(str::to_string),
        })
    }

    /// Still in force at `now` (see `domain::rules::membership_in_force`).
    pub fn in_force(&self, now: &Stamp) -> bool {
        crate::domain::rules::membership_in_force(self.ends_at.as_deref(), now.as_str())
    }
}

/// One entry of a site's history: who did what, when, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Stamp,
    pub entry_id: String,
    pub support_id: SupportId,
    /// The e-mail of the person who acted, or `system` (routing, sweeps).
    pub actor: String,
    pub action: HistoryAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// The contact the action is about (requester, removed member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the table's TTL deletes the entry (epoch seconds; the retention the operator set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl HistoryEntry {
    /// `seq` orders the entries one operation writes with the same `at`.
    pub fn new(site: &SupportId, at: &Stamp, seq: u8, actor: &str, action: HistoryAction) -> HistoryEntry {
        HistoryEntry {
            at: at.clone(),
            entry_id: format!("{seq}-{}", uuid::Uuid::new_v4().simple()),
            support_id: site.clone(),
            actor: actor.to_string(),
            action,
            request_id: None,
            subject: None,
            role: None,
            previous_role: None,
            reason: None,
            ttl: None,
        }
    }
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(keys::site_history(&self.support_id, self.at.as_str(), &self.entry_id).to_item());
        Ok(item)
    }
}

/// Where a list page resumes: the key attributes of the last item returned (opaque to
/// callers; the HTTP layer seals it into a signed cursor).
pub type PageKey = BTreeMap<String, String>;

#[derive(Debug, Clone, Default)]
pub struct ItemPage {
    pub items: Vec<Item>,
    pub next: Option<PageKey>,
}

/// One partition (of the table or an index) to page through.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub op: &'static str,
    pub index: Option<&'static str>,
    pub pk: String,
    pub prefix: Option<&'a str>,
    pub forward: bool,
}

// ---- a condition, and the transaction items built with it ----------------------------

impl Cond {
    pub fn status_is(status: RequestStatus) -> Cond {
        Cond::new("#status = :expected_status").value(":expected_status", s(status.as_str()))
    }
    pub fn role_is(role: Role) -> Cond {
        Cond::new("#role = :expected_role").value(":expected_role", s(role.as_str()))
    }
    /// A membership is as read: absent, or present with `role`.
    pub fn membership_is(role: Option<Role>) -> Cond {
        match role {
            None => Cond::absent(),
            Some(r) => Cond::role_is(r),
        }
    }
    /// The site's admin count is `seen` (a missing attribute counts as 0).
    pub fn admin_count_is(seen: i64) -> Cond {
        let c = Cond::new("admin_count = :seen_admins").value(":seen_admins", super::n(seen));
        if seen == 0 {
            Cond::new(format!("attribute_not_exists(admin_count) OR {}", c.expr)).value(":seen_admins", super::n(0))
        } else {
            c
        }
    }
}

/// How a membership write sets the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleWrite {
    /// Provisioning (P1/P2): a new membership is a `user`; an existing one keeps its role.
    KeepOrUser,
    /// A decision: the membership gets exactly this role.
    Set(Role),
}

/// The one writer of a membership item (ingestion's provisioning and the access workflow's
/// decisions): creates it if needed, keeps `since`.
///
/// `sold_by`: the reseller of the order whose provisioning creates the membership (P1), kept
/// as a hint for the sites page — such a site's count is likely on that reseller's counter
/// ([`keys::SOLE`]), so its record is not read up front. A stale hint costs a round, never a
/// wrong count.
pub fn tx_membership(
    table: &str,
    email: &Email,
    site: &SupportId,
    role: RoleWrite,
    now: &str,
    sold_by: Option<&SupportId>,
    cond: Option<Cond>,
) -> Result<TransactWriteItem, StoreError> {
    let (role_expr, gsk_expr, role) = match role {
        RoleWrite::KeepOrUser => ("if_not_exists(#role, :role)", "if_not_exists(gsi1sk, :gsk)", Role::User),
        RoleWrite::Set(role) => (":role", ":gsk", role),
    };
    let mut expression = format!(
        "SET #role = {role_expr}, email = :email, support_id = :sid, gsi1pk = :gpk, gsi1sk = {gsk_expr}, since = if_not_exists(since, :now)"
    );
    let mut values = vec![
        (":role", s(role.as_str())),
        (":email", s(email.as_str())),
        (":sid", s(site.as_str())),
        (":gpk", s(keys::site_members_gsi1pk(site))),
        (":gsk", s(keys::member_gsi1sk(role, email))),
        (":now", s(now)),
    ];
    if let Some(r) = sold_by {
        expression.push_str(&format!(", {0} = if_not_exists({0}, :sold_by)", keys::SOLD_BY));
        values.push((":sold_by", s(r.as_str())));
    }
    tx_update(table, &keys::membership(email, site), &expression, values, cond)
}

/// Sets a membership's role (creating the membership if needed), keeping `since`.
pub fn tx_set_membership(
    table: &str,
    email: &Email,
    site: &SupportId,
    role: Role,
    now: &str,
    cond: Cond,
) -> Result<TransactWriteItem, StoreError> {
    tx_membership(table, email, site, RoleWrite::Set(role), now, None, Some(cond))
}

/// Moves a site's admin count from `seen` to `new`, failing if it is no longer `seen`.
pub fn tx_set_admin_count(table: &str, site: &SupportId, seen: i64, new: i64) -> Result<TransactWriteItem, StoreError> {
    super::tx::tx_site_record(table, site, &super::tx::SiteRecordChange { admin_count: Some((seen, new)), ..Default::default() })
}

/// Key attributes of an item as a resumable page key.
fn page_key(item: &Item, index: Option<&str>) -> PageKey {
    let mut names = vec![keys::PK, keys::SK];
    if index.is_some() {
        let (pk, sk) = keys::key_attributes(index);
        names.extend([pk, sk]);
    }
    names.into_iter().filter_map(|n| Some((n.to_string(), get_s(item, n)?.to_string()))).collect()
}

impl Store {
    /// The site record, read consistently (`None`: no such site).
    pub async fn site_meta(&self, site: &SupportId) -> Result<Option<SiteMeta>, StoreError> {
        Ok(self.get("GetItem site", &keys::site_meta(site), true).await?.map(|i| site_meta_of(site, &i)))
    }

    /// A contact's role at a site, read consistently.
    pub async fn membership_role(&self, email: &Email, site: &SupportId) -> Result<Option<Role>, StoreError> {
        let item = self.get("GetItem membership", &keys::membership(email, site), true).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "role")).and_then(|r| Role::parse(r).ok()))
    }

    /// A contact's role at a site as a right to act: `None` once the membership has ended
    /// (issue 21), even before the sweep removes it. Read consistently.
    pub async fn acting_role(&self, email: &Email, site: &SupportId) -> Result<Option<Role>, StoreError> {
        let now = Stamp::of(time::OffsetDateTime::now_utc());
        let item = self.get("GetItem membership", &keys::membership(email, site), true).await?;
        Ok(item
            .as_ref()
            .filter(|i| crate::domain::rules::membership_in_force(super::access_expiry::ends_at_of(i), now.as_str()))
            .and_then(|i| get_s(i, "role"))
            .and_then(|r| Role::parse(r).ok()))
    }

    /// The id of a contact's open request for a site (the `OPEN#` marker), read consistently.
    pub async fn open_request_id(&self, email: &Email, site: &SupportId) -> Result<Option<RequestId>, StoreError> {
        let item = self.get("GetItem open-request marker", &keys::open_request(email, site), true).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "request_id")).map(RequestId::stored))
    }

    /// How many open requests a contact has (the counter the creation transaction keeps
    /// exact), and until when a rejection at `site` holds them off, read consistently.
    pub async fn request_limits(&self, email: &Email, site: &SupportId) -> Result<(i64, Option<Stamp>), StoreError> {
        let (limits_key, cooldown_key) = (keys::contact_limits(email), keys::rejection_cooldown(email, site));
        let (limits, cooldown) = futures::try_join!(
            self.get("GetItem request counter", &limits_key, true),
            self.get("GetItem rejection cool-down", &cooldown_key, true),
        )?;
        let open = limits.as_ref().and_then(|i| get_n(i, OPEN_REQUESTS)).unwrap_or(0);
        Ok((open, cooldown.as_ref().and_then(|i| get_s(i, "cooldown_until")).map(Stamp::stored)))
    }

    pub async fn access_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        match self.get("GetItem access request", &keys::request(id.as_str()), true).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Many requests by id (missing ones are skipped), in the order asked.
    pub async fn access_requests(&self, ids: &[RequestId]) -> Result<Vec<AccessRequest>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let items =
            self.batch_get("BatchGetItem access requests", ids.iter().map(|id| keys::request(id.as_str())).collect(), false).await?;
        let mut by_id: HashMap<RequestId, AccessRequest> = HashMap::new();
        for item in items {
            let r: AccessRequest = from_item(item)?;
            by_id.insert(r.request_id.clone(), r);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// One page of a partition, `limit` items at most, after `start`. `next` is set only
    /// when more items follow (one extra item is read to know).
    pub async fn page(
        &self,
        listing: &Listing<'_>,
        start: Option<&PageKey>,
        limit: usize,
        consistent: bool,
    ) -> Result<ItemPage, StoreError> {
        let range = match listing.prefix {
            Some(prefix) => Range::Prefix(prefix.to_string()),
            None => Range::All,
        };
        let mut q = match listing.index {
            Some(index) => Query::index(listing.op, index, listing.pk.clone(), range),
            None => Query::table(listing.op, listing.pk.clone(), range),
        };
        q.consistent = consistent && listing.index.is_none();
        q.forward = listing.forward;
        // One extra item tells whether more follow.
        let q = q.limit(limit.clamp(1, 999) + 1).start(start.map(|k| k.iter().map(|(n, v)| (n.clone(), s(v.clone()))).collect()));
        let out = self.query_page(&q).await?;
        let mut items = out.items;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| page_key(i, listing.index))
        } else {
            out.last_key.map(|k| k.into_iter().filter_map(|(n, v)| Some((n, v.as_s().ok()?.clone()))).collect())
        };
        Ok(ItemPage { items, next })
    }

    /// Every item of a partition (under `prefix`), read consistently.
    pub async fn all_items(&self, op: &'static str, pk: &str, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let range = prefix.map_or(Range::All, |p| Range::Prefix(p.to_string()));
        self.query_all(Query::table(op, pk, range)).await
    }

    /// A page of a contact's memberships, in Support ID order.
    pub async fn memberships_page(
        &self,
        email: &Email,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<Membership>, Option<PageKey>), StoreError> {
        let pk = keys::contact_pk(email);
        let listing = Listing { op: "Query memberships", index: None, pk, prefix: Some(keys::MEMBER_PREFIX), forward: true };
        let page = self.page(&listing, start, limit, false).await?;
        Ok((in_force_now(&page.items), page.next))
    }

    /// All of a contact's memberships in force, each with its end if it has one (consistent:
    /// the contact's partition). For the notices run, which needs them whole.
    pub async fn contact_memberships(&self, email: &Email) -> Result<Vec<Membership>, StoreError> {
        let items = self.all_items("Query memberships", &keys::contact_pk(email), Some(keys::MEMBER_PREFIX)).await?;
        Ok(in_force_now(&items))
    }

    /// A page of a site's members: admins first, then by e-mail.
    pub async fn site_members_page(
        &self,
        site: &SupportId,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<Membership>, Option<PageKey>), StoreError> {
        let listing =
            Listing { op: "Query site members", index: Some(keys::GSI1), pk: keys::site_members_gsi1pk(site), prefix: None, forward: true };
        let page = self.page(&listing, start, limit, false).await?;
        Ok((page.items.iter().filter_map(Membership::from_item).collect(), page.next))
    }

    /// A page of a contact's own requests, newest first.
    pub async fn contact_requests_page(
        &self,
        email: &Email,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<PageKey>), StoreError> {
        let listing = Listing {
            op: "Query contact requests",
            index: Some(keys::GSI2),
            pk: keys::contact_requests_gsi2pk(email),
            prefix: None,
            forward: false,
        };
        let page = self.page(&listing, start, limit, false).await?;
        let requests = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((requests, page.next))
    }

    /// A page of a site's history, newest first.
    pub async fn site_history_page(
        &self,
        site: &SupportId,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<HistoryEntry>, Option<PageKey>), StoreError> {
        let listing =
            Listing { op: "Query site history", index: None, pk: keys::site_pk(site), prefix: Some(keys::HISTORY_PREFIX), forward: false };
        let page = self.page(&listing, start, limit, false).await?;
        let entries = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((entries, page.next))
    }

    /// The ids of a site's `pending_admin` requests, oldest first (consistent: exact at
    /// the moment the site loses its last admin).
    pub async fn site_pending_ids(&self, site: &SupportId) -> Result<Vec<RequestId>, StoreError> {
        let items = self.all_items("Query site pending requests", &keys::site_pk(site), Some(keys::SITE_PENDING_PREFIX)).await?;
        items.iter().map(|i| req_s(i, "request_id").map(RequestId::stored)).collect()
    }

    /// The `(created_at, request_id)` of the `pending_admin` requests created on `day`.
    pub async fn pending_on_day(&self, day: &str) -> Result<Vec<(Stamp, RequestId)>, StoreError> {
        let items = self.all_items("Query pending-admin day", &keys::pending_day_pk(day), None).await?;
        items.iter().map(|i| Ok((Stamp::stored(req_s(i, "created_at")?), RequestId::stored(req_s(i, "request_id")?)))).collect()
    }

    /// The ids of Care's open (`escalated`) requests created before `cutoff`, oldest first:
    /// one consistent range of Care's work list (its sort key starts with `created_at`).
    pub async fn escalated_created_before(&self, cutoff: &Stamp) -> Result<Vec<RequestId>, StoreError> {
        let q =
            Query::table("Query care work list before", keys::CARE_ESCALATED_PK, Range::Between("0".into(), cutoff.as_str().to_string()));
        let items = self.query_all(q).await?;
        items.iter().map(|i| req_s(i, "request_id").map(RequestId::stored)).collect()
    }

    /// Every item of the Care outbox.
    pub async fn outbox(&self) -> Result<Vec<Item>, StoreError> {
        self.all_items("Query care outbox", keys::OUTBOX_PK, None).await
    }

    pub async fn delete_item(&self, op: &'static str, key: &Key) -> Result<(), StoreError> {
        self.delete(op, key, None).await.map(|_| ())
    }

    /// A page of the sites the view is enabled for, by Support ID.
    pub async fn enabled_sites_page(
        &self,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<EnabledSite>, Option<PageKey>), StoreError> {
        let listing =
            Listing { op: "Query rollout enabled sites", index: None, pk: keys::ROLLOUT_ENABLED_PK.into(), prefix: None, forward: true };
        let page = self.page(&listing, start, limit, true).await?;
        let sites = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((sites, page.next))
    }

    /// The first day the admin-SLA sweep has not fully swept, if it ever ran.
    pub async fn sweep_watermark(&self) -> Result<Option<String>, StoreError> {
        let item = self.get("GetItem sweep watermark", &keys::sweep_watermark(), true).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "day")).map(str::to_string))
    }

    /// Moves the watermark forward to `day` (never back).
    pub async fn advance_sweep_watermark(&self, day: &str) -> Result<(), StoreError> {
        let mut item = keys::sweep_watermark().to_item();
        item.insert("day".into(), s(day));
        // A watermark already past `day` stays where it is.
        let forward = Cond::new("attribute_not_exists(#pk) OR #day < :day").value(":day", s(day));
        self.put("PutItem sweep watermark", item, Some(forward)).await.map(|_| ())
    }
}

// ---- the typed writes a workflow plan is made of ---------------------------------------

/// The attribute of a site record (`SITE#{s}`/`META`) that enables the view for it (rollout waves).
pub const VIEW_ENABLED: &str = "view_enabled";

/// The attribute of `CONTACT#{e}`/`LIMITS` counting the contact's open requests.
pub const OPEN_REQUESTS: &str = "open_requests";

/// One write (or check) of a workflow plan. The access rules decide which, from what they
/// read; [`tx_items`] turns them into one transaction. Every condition here is what makes
/// the plan safe to commit against a table that changed since it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// The request, new (`expected: None`: it must not exist) or moved on from `expected`.
    Request {
        request: AccessRequest,
        expected: Option<RequestStatus>,
    },
    /// A work-list or index marker of the request; `exclusive`: it must not exist yet
    /// (the `OPEN#` marker: one open request per contact and site).
    Marker {
        key: Key,
        request: AccessRequest,
        exclusive: bool,
    },
    /// Deletes an item, whatever it holds.
    Delete(Key),
    /// The contact's membership of the site is as read (`None`: absent).
    MembershipIs {
        email: Email,
        site: SupportId,
        role: Option<Role>,
    },
    /// Sets a membership's role (a new one is a member `since` `at`); the membership must be as read (`previous`).
    SetMembership {
        email: Email,
        site: SupportId,
        role: Role,
        previous: Option<Role>,
        at: Stamp,
        /// The site resells (as read): the member gets a reseller marker too.
        resells: bool,
        /// When the membership ends (issue 21: set when approving); `None` leaves any end as it is.
        ends_at: Option<Stamp>,
    },
    /// Removes a membership that still has `role`.
    RemoveMembership {
        email: Email,
        site: SupportId,
        role: Role,
    },
    /// The site's admin count is as read.
    AdminCountIs {
        site: SupportId,
        seen: i64,
    },
    /// Moves the site's admin count from `seen` to `new`.
    SetAdminCount {
        site: SupportId,
        seen: i64,
        new: i64,
    },
    History(HistoryEntry),
    /// The Care message of an escalated request, kept until it is sent.
    Outbox {
        request_id: RequestId,
        at: Stamp,
        body: String,
    },
    /// A site that lost an admin: its `pending_admin` requests are re-routed after the commit.
    Orphaned {
        site: SupportId,
        at: Stamp,
    },
    /// One more open request for `email`, only while they have fewer than `max`.
    CountOpenRequest {
        email: Email,
        max: u32,
    },
    /// One open request of `email` fewer.
    UncountOpenRequest {
        email: Email,
    },
    /// No rejection at `site` holds `email` off at `now`.
    NoCooldown {
        email: Email,
        site: SupportId,
        now: Stamp,
    },
    /// A rejection at `site` holds `email` off until `until`.
    Cooldown {
        email: Email,
        site: SupportId,
        until: Stamp,
    },
    /// Enables or disables the view for an existing site (its record's `view_enabled`, as
    /// read: `was`), and lists or unlists it under `ROLLOUT#ENABLED`.
    ViewEnabled {
        site: SupportId,
        name: String,
        enabled: bool,
        was: bool,
        at: Stamp,
        by: Email,
    },
    // ---- claims by proof of purchase (issue 21) ----
    /// The order's head still has `version` current and is active (a claim's proof holds).
    OrderCurrent {
        order: OrderId,
        version: u64,
    },
    /// The line `serial` of `version` still exists.
    LineExists {
        order: OrderId,
        version: u64,
        serial: Serial,
    },
    /// The claim record, new (`expected: None`: it must not exist) or replacing the one read
    /// (its `claimed_at` and status as read).
    Claim {
        claim: ClaimRecord,
        expected: Option<(Stamp, ClaimStatus)>,
    },
    /// A contact's wrong claim attempts, replacing the item as read (`seen`: its revision; `None`: absent).
    ClaimAttempts {
        email: Email,
        attempts: ClaimAttempts,
        seen: Option<i64>,
    },
    /// A Care notice (not an escalation: nothing to decide), kept until it is sent.
    Notice {
        id: String,
        at: Stamp,
        body: String,
    },
    /// Sets the site's claim-revocation window (the site must exist).
    ClaimWindow {
        site: SupportId,
        days: i64,
    },
    // ---- memberships that expire (issue 21) ----
    /// Sets (or clears) a membership's end, on the membership (conditioned on `role` and the
    /// end as read, `was`), its reseller marker (`resells`) and the sweep's day index.
    SetMembershipEnd {
        email: Email,
        site: SupportId,
        role: Role,
        ends_at: Option<Stamp>,
        was: Option<Stamp>,
        resells: bool,
    },
    /// The sweep removes a membership that still has `role` and ends at `ends_at`.
    ExpireMembership {
        email: Email,
        site: SupportId,
        role: Role,
        ends_at: Stamp,
    },
    // ---- domain rules, invitations, access reviews (issue 21 parts 2-4) ----
    /// The item does not exist (e.g. no open request of the contact for the site).
    Absent(Key),
    /// A new domain rule (it must not exist yet).
    DomainRule(super::access_rules::DomainRule),
    /// Removes a site's rule for `domain` (it must exist).
    RemoveDomainRule {
        site: SupportId,
        domain: String,
    },
    /// The site's rule for `domain` still exists (a request approved by it commits only then).
    DomainRuleIs {
        site: SupportId,
        domain: String,
    },
    /// An invitation's two items, new (`seen: None`) or replacing the one made at `seen`.
    Invitation {
        invitation: super::access_invites::Invitation,
        seen: Option<Stamp>,
    },
    /// Removes the invitation of `email` made at `invited_at` (both items).
    RemoveInvitation {
        site: SupportId,
        email: Email,
        invited_at: Stamp,
    },
    /// Sets a site's access-review schedule on its record (`every_days: None` turns it off),
    /// conditioned on the due instant as read (`seen_due`), with the sweep's index entry.
    ReviewSchedule {
        site: SupportId,
        every_days: Option<i64>,
        due_at: Option<Stamp>,
        seen_due: Option<Stamp>,
    },
    /// A member's confirmation in the review due at `due_at` (only while it is the site's review).
    ReviewConfirmation {
        site: SupportId,
        email: Email,
        due_at: Stamp,
        by: String,
        at: Stamp,
    },
}

/// The transaction items of a plan's writes, in order.
pub fn tx_items(table: &str, writes: &[Write]) -> Result<Vec<TransactWriteItem>, StoreError> {
    // A membership of a site that did not resell, as read, commits only while that holds: a
    // first resale committed meanwhile makes the plan run again, and the member gets a marker.
    let mut unsold: std::collections::BTreeSet<&SupportId> = writes
        .iter()
        .filter_map(|w| match w {
            Write::SetMembership { site, resells: false, .. } => Some(site),
            _ => None,
        })
        .collect();
    let mut items = Vec::with_capacity(writes.len());
    for w in writes {
        // The site record's own write or check carries the condition (one item, one operation).
        let item = match w {
            Write::AdminCountIs { site, seen } if unsold.remove(site) => {
                tx_check(table, &keys::site_meta(site), Cond::admin_count_is(*seen).and_site_unsold())?
            }
            Write::SetAdminCount { site, seen, new } if unsold.remove(site) => super::tx::tx_site_record(
                table,
                site,
                &super::tx::SiteRecordChange { admin_count: Some((*seen, *new)), unsold: true, ..Default::default() },
            )?,
            Write::SetMembershipEnd { email, site, role, ends_at, was, resells } => {
                items.extend(super::access_expiry::tx_set_end(table, email, site, *role, ends_at.as_ref(), was.as_ref(), *resells)?);
                continue;
            }
            Write::Invitation { invitation, seen } => {
                items.extend(super::access_invites::tx_put_invitation(table, invitation, seen.as_ref())?);
                continue;
            }
            Write::RemoveInvitation { site, email, invited_at } => {
                items.extend(super::access_invites::tx_remove_invitation(table, site, email, invited_at)?);
                continue;
            }
            Write::ReviewSchedule { site, every_days, due_at, seen_due } => {
                items.extend(super::access_reviews::tx_review_schedule(table, site, *every_days, due_at.as_ref(), seen_due.as_ref())?);
                continue;
            }
            Write::ReviewConfirmation { site, email, due_at, by, at } => {
                items.extend(super::access_reviews::tx_confirmation(table, site, email, due_at, by, at)?);
                continue;
            }
            _ => tx_item(table, w)?,
        };
        items.push(item);
        items.extend(rollout_listing_item(table, w)?);
        items.extend(reseller_marker_write(table, w)?);
        items.extend(roster_write(table, w)?);
        items.extend(super::access_expiry::end_index_write(table, w)?);
    }
    for site in unsold {
        items.push(tx_check(table, &keys::site_meta(site), Cond::site_unsold())?);
    }
    Ok(items)
}

/// A membership of a site that resells carries a reseller marker in the contact's partition
/// (what the view reads to find R3); it comes and goes with the membership.
fn reseller_marker_write(table: &str, write: &Write) -> Result<Option<TransactWriteItem>, StoreError> {
    Ok(match write {
        Write::SetMembership { email, site, resells: true, ends_at, .. } => {
            Some(tx_put(table, super::orders::reseller_marker_item(email, site, ends_at.as_ref().map(|e| e.as_str())), None)?)
        }
        Write::RemoveMembership { email, site, .. } | Write::ExpireMembership { email, site, .. } => {
            Some(tx_delete(table, &keys::reseller_marker(email, site), None)?)
        }
        _ => None,
    })
}

/// The site's member roster comes and goes with the membership.
fn roster_write(table: &str, write: &Write) -> Result<Option<TransactWriteItem>, StoreError> {
    Ok(match write {
        Write::SetMembership { email, site, .. } => Some(tx_put(table, roster_item(email, site), None)?),
        Write::RemoveMembership { email, site, .. } | Write::ExpireMembership { email, site, .. } => {
            Some(tx_delete(table, &keys::site_roster(site, email), None)?)
        }
        _ => None,
    })
}

/// A site's roster entry of one member.
pub(crate) fn roster_item(email: &Email, site: &SupportId) -> super::keys::Item {
    let mut item = keys::site_roster(site, email).to_item();
    item.insert("email".into(), s(email.as_str()));
    item
}

fn tx_item(table: &str, write: &Write) -> Result<TransactWriteItem, StoreError> {
    match write {
        Write::Request { request, expected } => {
            let cond = match expected {
                None => Cond::absent(),
                Some(status) => Cond::status_is(*status),
            };
            tx_put(table, request.to_item()?, Some(cond))
        }
        Write::Marker { key, request, exclusive } => tx_put(table, request.marker_item(key), exclusive.then(Cond::absent)),
        Write::Delete(key) => tx_delete(table, key, None),
        Write::MembershipIs { email, site, role } => tx_check(table, &keys::membership(email, site), Cond::membership_is(*role)),
        Write::SetMembership { email, site, role, previous, at, ends_at: None, .. } => {
            tx_set_membership(table, email, site, *role, at.as_str(), Cond::membership_is(*previous))
        }
        Write::SetMembership { email, site, role, previous, at, ends_at: Some(end), .. } => tx_update(
            table,
            &keys::membership(email, site),
            "SET #role = :role, email = :email, support_id = :sid, gsi1pk = :gpk, gsi1sk = :gsk, since = if_not_exists(since, :now), ends_at = :ends_at",
            vec![
                (":role", s(role.as_str())),
                (":email", s(email.as_str())),
                (":sid", s(site.as_str())),
                (":gpk", s(keys::site_members_gsi1pk(site))),
                (":gsk", s(keys::member_gsi1sk(*role, email))),
                (":now", s(at.as_str())),
                (":ends_at", s(end.as_str())),
            ],
            Some(Cond::membership_is(*previous)),
        ),
        Write::RemoveMembership { email, site, role } => tx_delete(table, &keys::membership(email, site), Some(Cond::role_is(*role))),
        Write::AdminCountIs { site, seen } => tx_check(table, &keys::site_meta(site), Cond::admin_count_is(*seen)),
        Write::SetAdminCount { site, seen, new } => tx_set_admin_count(table, site, *seen, *new),
        Write::History(entry) => tx_put(table, entry.to_item()?, None),
        Write::Outbox { request_id, at, body } => {
            let mut item = keys::outbox_escalation(request_id.as_str()).to_item();
            item.insert("request_id".into(), s(request_id.as_str()));
            item.insert("at".into(), s(at.as_str()));
            item.insert("body".into(), s(body.clone()));
            tx_put(table, item, None)
        }
        Write::Orphaned { site, at } => {
            let mut item = keys::outbox_orphaned_site(site).to_item();
            item.insert("support_id".into(), s(site.as_str()));
            item.insert("at".into(), s(at.as_str()));
            tx_put(table, item, None)
        }
        Write::CountOpenRequest { email, max } => tx_update(
            table,
            &keys::contact_limits(email),
            "ADD open_requests :one",
            vec![(":one", super::n(1))],
            Some(Cond::new("attribute_not_exists(open_requests) OR open_requests < :max_open").value(":max_open", super::n(*max))),
        ),
        // Never below zero: planned only when the counter read was above it, and conditional
        // on that still holding (else the transaction re-reads and plans again).
        Write::UncountOpenRequest { email } => tx_update(
            table,
            &keys::contact_limits(email),
            "ADD open_requests :minus_one",
            vec![(":minus_one", super::n(-1))],
            Some(Cond::new("open_requests > :zero_open").value(":zero_open", super::n(0))),
        ),
        Write::NoCooldown { email, site, now } => tx_check(
            table,
            &keys::rejection_cooldown(email, site),
            Cond::new("attribute_not_exists(#pk) OR cooldown_until <= :now").value(":now", s(now.as_str())),
        ),
        Write::Cooldown { email, site, until } => {
            let mut item = keys::rejection_cooldown(email, site).to_item();
            item.insert("cooldown_until".into(), s(until.as_str()));
            tx_put(table, item, None)
        }
        Write::OrderCurrent { order, version } => tx_check(
            table,
            &keys::order_head(order),
            Cond::new("current_version = :claimed_version AND #status = :claimed_status")
                .value(":claimed_version", super::n(*version))
                .value(":claimed_status", s("active")),
        ),
        Write::LineExists { order, version, serial } => {
            tx_check(table, &keys::order_line(order, *version, serial), Cond::new("attribute_exists(#pk)"))
        }
        Write::Claim { claim, expected } => {
            let cond = match expected {
                None => Cond::absent(),
                Some((at, status)) => Cond::new("claimed_at = :seen_claimed_at AND #status = :seen_claim_status")
                    .value(":seen_claimed_at", s(at.as_str()))
                    .value(":seen_claim_status", s(status.as_str())),
            };
            tx_put(table, claim.to_item()?, Some(cond))
        }
        Write::ClaimAttempts { email, attempts, seen } => {
            let cond = match seen {
                None => Cond::absent(),
                Some(rev) => Cond::new("revision = :seen_revision").value(":seen_revision", super::n(*rev)),
            };
            tx_put(table, attempts.to_item(email)?, Some(cond))
        }
        Write::Notice { id, at, body } => {
            let mut item = keys::outbox_notice(id).to_item();
            item.insert("notice_id".into(), s(id.as_str()));
            item.insert("at".into(), s(at.as_str()));
            item.insert("body".into(), s(body.clone()));
            tx_put(table, item, None)
        }
        Write::ClaimWindow { site, days } => tx_update(
            table,
            &keys::site_meta(site),
            &format!("SET {} = :claim_days", super::access_claims::CLAIM_REVOCATION_DAYS),
            vec![(":claim_days", super::n(*days))],
            Some(Cond::new("attribute_exists(#pk)")),
        ),
        Write::ExpireMembership { email, site, role, ends_at } => super::access_expiry::tx_expire(table, email, site, *role, ends_at),
        // Several items: `tx_items` adds them.
        Write::SetMembershipEnd { .. } => Err(StoreError::Corrupt("a membership end is several items".into())),
        Write::Invitation { .. } | Write::RemoveInvitation { .. } => Err(StoreError::Corrupt("an invitation is two items".into())),
        Write::ReviewSchedule { .. } | Write::ReviewConfirmation { .. } => Err(StoreError::Corrupt("a review write is several items".into())),
        Write::Absent(key) => tx_check(table, key, Cond::absent()),
        Write::DomainRule(rule) => tx_put(table, rule.to_item()?, Some(Cond::absent())),
        Write::RemoveDomainRule { site, domain } => {
            tx_delete(table, &keys::site_domain_rule(site, domain), Some(Cond::new("attribute_exists(#pk)")))
        }
        Write::DomainRuleIs { site, domain } => tx_check(table, &keys::site_domain_rule(site, domain), Cond::new("attribute_exists(#pk)")),
        Write::ViewEnabled { site, enabled, was, .. } => {
            let cond = if *was {
                Cond::new("view_enabled = :was_enabled").value(":was_enabled", AttributeValue::Bool(true))
            } else {
                Cond::new("attribute_exists(#pk) AND (attribute_not_exists(view_enabled) OR view_enabled = :was_enabled)")
                    .value(":was_enabled", AttributeValue::Bool(false))
            };
            tx_update(
                table,
                &keys::site_meta(site),
                "SET view_enabled = :enabled",
                vec![(":enabled", AttributeValue::Bool(*enabled))],
                Some(cond),
            )
        }
    }
}

/// The second item of a `ViewEnabled` write: the site's entry under `ROLLOUT#ENABLED`.
fn rollout_listing_item(table: &str, w: &Write) -> Result<Option<TransactWriteItem>, StoreError> {
    let Write::ViewEnabled { site, name, enabled, at, by, .. } = w else { return Ok(None) };
    let listing = if *enabled {
        let mut item = keys::rollout_enabled(site).to_item();
        item.insert("support_id".into(), s(site.as_str()));
        item.insert("name".into(), s(name.clone()));
        item.insert("enabled_at".into(), s(at.as_str()));
        item.insert("enabled_by".into(), s(by.as_str()));
        tx_put(table, item, None)?
    } else {
        tx_delete(table, &keys::rollout_enabled(site), None)?
    };
    Ok(Some(listing))
}

/// One site the view is enabled for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnabledSite {
    pub support_id: SupportId,
    pub name: String,
    pub enabled_at: Stamp,
    pub enabled_by: Email,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions_on_site_record(items: &[TransactWriteItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| {
                let (key, cond) = match (i.condition_check(), i.update()) {
                    (Some(c), _) => (c.key(), Some(c.condition_expression().to_string())),
                    (_, Some(u)) => (u.key(), u.condition_expression().map(str::to_string)),
                    _ => return None,
                };
                (key.get(keys::SK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some("META")).then_some(cond).flatten()
            })
            .collect()
    }

    #[test]
    fn a_membership_written_without_a_reseller_marker_holds_only_while_the_site_has_not_resold() {
        let (email, site) = (Email::parse("ted@data.example").unwrap(), SupportId::parse("FARM-1").unwrap());
        let set = |resells| Write::SetMembership {
            email: email.clone(),
            site: site.clone(),
            role: Role::User,
            previous: None,
            at: Stamp::stored("2026-11-28T00:00:00.000000Z"),
            resells,
            ends_at: None,
        };
        // Alone: a check of the site record. With the admin count moving: one write carrying both.
        assert_eq!(conditions_on_site_record(&tx_items("t", &[set(false)]).unwrap()), ["attribute_not_exists(resells)"]);
        let with_count = tx_items("t", &[set(false), Write::SetAdminCount { site: site.clone(), seen: 1, new: 2 }]).unwrap();
        assert_eq!(conditions_on_site_record(&with_count), ["(admin_count = :seen_admins) AND (attribute_not_exists(resells))"]);
        // A site that resells: the marker is written, and nothing is conditioned on it.
        let sold = tx_items("t", &[set(true)]).unwrap();
        assert!(conditions_on_site_record(&sold).is_empty());
        assert_eq!(sold.len(), 3, "membership + reseller marker + the site's roster entry");
    }
}
