//! The single table's key design: the only place that formats a key or names an index.
//!
//! | item | pk | sk | gsi1 (pk / sk) | gsi2 (pk / sk) |
//! |---|---|---|---|---|
//! | order head | `ORDER#{o}` | `HEAD` | | |
//! | order version record | `ORDER#{o}` | `VERSION#{v}` | | |
//! | entitlement line of a version | `ORDER#{o}` | `LINE#{v}#{serial}` | `SITE#{s}#ENT` / `{serial}#{v}` | `SOLD#{r}#TO#{s}` / `{serial}#{v}` |
//! | serial claim | `SERIAL#{serial}` | `CLAIM` | | |
//! | site | `SITE#{s}` | `META` | | |
//! | site history entry | `SITE#{s}` | `HISTORY#{at}#{id}` | | |
//! | unsettled order at a site (its current version, staged versions, settled-until) | `SITE#{s}` | `UNSETTLED#{o}` | | |
//! | reseller → customer site counter | `SOLD#{r}` | `TO#{s}` | | |
//! | membership | `CONTACT#{e}` | `MEMBER#{s}` | `SITE#{s}#MEMBERS` / `{role}#{e}` | |
//! | ship-to grant | `CONTACT#{e}` | `GRANT#{o}` | | |
//! | ship-to reach of a contact at a site (exact counts, per reseller) | `CONTACT#{e}` | `SHIPTO#{s}` | | |
//! | reseller marker: the contact is a member of a site that sells | `CONTACT#{e}` | `RESELLER#{r}` | | |
//! | a ship-to contact's copy of a line (per version) | `SHIPPED#{e}#{s}` | `{serial}#{v}` | | |
//! | open-request marker | `CONTACT#{e}` | `OPEN#{s}` | | |
//! | access request | `REQUEST#{id}` | `REQUEST` | `SITE#{s}#REQUESTS` / `{at}#{id}` | `CONTACT#{e}#REQUESTS` / `{at}#{id}` |
//! | pending-admin marker | `PENDING#{day}` | `{at}#{id}` | | |
//! | entitlement read audit | `AUDIT#{serial}` | `{at}#{id}` | | |
//! | claim by proof of purchase (one per claimant and site) | `SITE#{s}` | `CLAIM#{e}` | | |
//! | a caller's wrong claim attempts and lock-out | `CONTACT#{e}` | `CLAIM_ATTEMPTS` | | |
//! | Care-queue outbox: a notice (a claim at a site with no admin) not yet sent | `OUTBOX#CARE` | `NOTICE#{id}` | | |
//! | a membership's end, by day (the expiry sweep's index) | `MEMBER_ENDS#{day}` | `{ends_at}#{s}#{e}` | | |
//! | membership expiry sweep watermark | `SWEEP#MEMBER_ENDS` | `WATERMARK` | | |
//! | a site's domain rule (verified e-mail at `{d}` approved as `user`) | `SITE#{s}` | `DOMAIN_RULE#{d}` | | |
//! | an invitation (the site's list; the invitee's copy) | `SITE#{s}` / `CONTACT#{e}` | `INVITE#{e}` / `INVITED#{s}` | | |
//! | a member confirmed in an access review due at `{due}` | `SITE#{s}` | `REVIEW#{due}#{e}` | | |
//! | a site's access review due, by day (the review sweep's index) | `REVIEW_DUE#{day}` | `{due}#{s}` | | |
//! | the review sweep's watermark | `SWEEP#REVIEW_DUE` | `WATERMARK` | | |
//!
//! The renewal radar's indexes (issue 20), sparse: only line items and ship-to copies carry
//! them, written by the same transactions that stage the line (one writer,
//! `store/orders/entities.rs`), deleted with it. `{m}` is the end month (`YYYY-MM`) of
//! `ends_on`, `{d}` the `ends_on` day:
//!
//! | item | gsi3 (pk / sk) | gsi4 (pk / sk) |
//! |---|---|---|
//! | entitlement line of a version | `ENDS#SITE#{s}#{m}` / `{d}#{serial}#{v}` | `ENDS#SOLD#{r}#{m}` / `{d}#{serial}#{v}` (resold lines) |
//! | a ship-to contact's copy of a line | `ENDS#SHIPPED#{e}#{m}` / `{d}#{serial}#{v}` | |
//!
//! Versions are zero-padded to 10 digits so they sort numerically.

use crate::domain::{Day, Email, OrderId, Role, Serial, SupportId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
/// The renewal radar's index by end month: a site's lines and a ship-to contact's copies.
pub const GSI3: &str = "gsi3";
pub const GSI3_PK: &str = "gsi3pk";
pub const GSI3_SK: &str = "gsi3sk";
/// The renewal radar's index by end month: a reseller's lines, across every customer site.
pub const GSI4: &str = "gsi4";
pub const GSI4_PK: &str = "gsi4pk";
pub const GSI4_SK: &str = "gsi4sk";
/// Expiry notices (issue 20 part 2): every line item by its end day, keys only, in
/// [`GSI5_SHARDS`] partitions a day (`ENDS_ON#{day}#{shard}`, the shard from the serial):
/// a day's lines in one partition would make a year-end, or one big order whose lines all
/// end on one day (one site: the same sort key for all), a single hot index partition
/// that throttles ingestion. A ship-to copy (no `gsi5pk`) is not in it.
pub const GSI5: &str = "gsi5";
pub const GSI5_PK: &str = "gsi5pk";
pub const GSI5_SK: &str = GSI1_PK;
pub const GSI5_SHARDS: u32 = 8;

pub type Item = HashMap<String, AttributeValue>;

/// Expression placeholders for attribute names that are DynamoDB reserved words (or keys).
pub const PLACEHOLDERS: &[(&str, &str)] =
    &[("#pk", PK), ("#role", "role"), ("#status", "status"), ("#name", "name"), ("#day", "day"), ("#current", "current")];

/// The key attributes of the table (`None`) or of one of its indexes.
pub fn key_attributes(index: Option<&str>) -> (&'static str, &'static str) {
    match index {
        Some(GSI1) => (GSI1_PK, GSI1_SK),
        Some(GSI2) => (GSI2_PK, GSI2_SK),
        Some(GSI3) => (GSI3_PK, GSI3_SK),
        Some(GSI4) => (GSI4_PK, GSI4_SK),
        Some(GSI5) => (GSI5_PK, GSI5_SK),
        _ => (PK, SK),
    }
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Key {
        Key { pk, sk: sk.into() }
    }
    pub fn to_item(&self) -> Item {
        HashMap::from([(PK.to_string(), AttributeValue::S(self.pk.clone())), (SK.to_string(), AttributeValue::S(self.sk.clone()))])
    }
}

pub fn version(v: u64) -> String {
    format!("{v:010}")
}

// ---- orders -----------------------------------------------------------------------

pub fn order_pk(o: &OrderId) -> String {
    format!("ORDER#{o}")
}
pub fn order_head(o: &OrderId) -> Key {
    Key::new(order_pk(o), "HEAD")
}
pub const VERSION_PREFIX: &str = "VERSION#";
pub fn order_version(o: &OrderId, v: u64) -> Key {
    Key::new(order_pk(o), format!("{VERSION_PREFIX}{}", version(v)))
}
pub const LINE_PREFIX: &str = "LINE#";
/// The sort-key prefix of one version's lines.
pub fn line_prefix(v: u64) -> String {
    format!("{LINE_PREFIX}{}#", version(v))
}
/// The upper bound of the lines of every version below `v` (for a `BETWEEN LINE# AND …`).
pub fn lines_before(v: u64) -> String {
    format!("{LINE_PREFIX}{}", version(v))
}
/// The version and serial of a line's sort key (`LINE#{v}#{serial}`).
pub fn parse_line_sk(sk: &str) -> Option<(u64, &str)> {
    let (v, serial) = sk.strip_prefix(LINE_PREFIX)?.split_once('#')?;
    Some((v.parse().ok()?, serial))
}
pub fn order_line(o: &OrderId, v: u64, serial: &Serial) -> Key {
    Key::new(order_pk(o), format!("{}{serial}", line_prefix(v)))
}
pub fn serial_claim(serial: &Serial) -> Key {
    Key::new(format!("SERIAL#{serial}"), "CLAIM")
}
/// Index sort key of a line: serial first, so a site's lines list in serial order.
pub fn line_index_sk(serial: &Serial, v: u64) -> String {
    format!("{serial}#{}", version(v))
}
pub fn site_entitlements_gsi1pk(s: &SupportId) -> String {
    format!("SITE#{s}#ENT")
}
/// Sharded per end-customer site, so one reseller's writes spread over its customers.
pub fn sold_to_gsi2pk(reseller: &SupportId, s: &SupportId) -> String {
    format!("SOLD#{reseller}#TO#{s}")
}
/// A position in a serial-ordered listing: an index sort key (`{serial}#{version}`) after
/// which a page resumes, or `{serial}#~`, after every version of a serial already returned.
/// Resuming from the full key matters: an older version's entry sorts just before the
/// current one, and a page that stopped on it has not yet read the current line.
pub fn after_serial(serial: &str) -> String {
    format!("{serial}#~")
}

/// The position just after one index entry of `serial` at version `v`.
pub fn position(serial: &str, v: u64) -> String {
    format!("{serial}#{}", version(v))
}

/// A position as an index sort key bound (a bare serial of an earlier release's cursor
/// becomes "after every version of it").
pub fn normalize_position(position: &str) -> String {
    match parse_position(position) {
        (serial, Some(v)) => self::position(serial, v),
        (serial, None) => after_serial(serial),
    }
}

/// Reads a position back: `(serial, Some(version))` after one index entry, `(serial, None)`
/// after every version of the serial. A bare serial (a cursor of an earlier release) means
/// the latter.
pub fn parse_position(position: &str) -> (&str, Option<u64>) {
    match position.split_once('#') {
        Some((serial, "~")) | Some((serial, "")) => (serial, None),
        Some((serial, v)) => match v.parse() {
            Ok(v) => (serial, Some(v)),
            Err(_) => (serial, None),
        },
        None => (position, None),
    }
}

/// The lowest sort key of a version-`v` order-line listing (`LINE#{v}#…`) still after
/// `position`: lines of that version sort like their index entries `{serial}#{v}`.
pub fn line_listing_start(v: u64, position: &str) -> String {
    let (serial, after) = parse_position(position);
    match after {
        Some(w) if v > w => format!("{}{serial}", line_prefix(v)),
        _ => format!("{}{}", line_prefix(v), after_serial(serial)),
    }
}

/// Orders whose older entries an index still listed when their cleanup asked: the work list
/// of `Store::settle_pending` (`SETTLE#PENDING`/`{o}`).
pub const SETTLE_PENDING_PK: &str = "SETTLE#PENDING";
pub fn settle_pending(o: &OrderId) -> Key {
    Key::new(SETTLE_PENDING_PK.to_string(), o.to_string())
}

// ---- sites ------------------------------------------------------------------------

pub fn site_pk(s: &SupportId) -> String {
    format!("SITE#{s}")
}
/// The Support ID a `SITE#{s}` partition key names.
pub fn site_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("SITE#").filter(|s| !s.contains('#'))
}
pub fn site_meta(s: &SupportId) -> Key {
    Key::new(site_pk(s), "META")
}
/// The site record's count of current lines sold by `seller` (`None`: direct sales), an
/// attribute beside `entitlement_count` (their sum), written by the switch.
pub fn lines_by(seller: Option<&SupportId>) -> String {
    match seller {
        Some(r) => format!("{LINES_BY_PREFIX}{r}"),
        None => LINES_DIRECT.to_string(),
    }
}
const LINES_BY_PREFIX: &str = "lines_by:";
const LINES_DIRECT: &str = "lines_direct";
/// The site record's revision of its counts, bumped by every switch that moves them.
pub const COUNTS_REVISION: &str = "counts_revision";
/// On a reseller counter (`SOLD#{r}`/`TO#{s}`): the reseller sold every current line of the
/// site, so the counter's count is the site's.
pub const SOLE: &str = "sole";
/// On a membership provisioned from an order (P1): that order's reseller, a hint that the
/// site's count is on its counter (see [`SOLE`]).
pub const SOLD_BY: &str = "sold_by";
/// The seller a [`lines_by`] attribute counts (`Some(None)`: direct sales).
pub fn seller_of_lines_by(attribute: &str) -> Option<Option<SupportId>> {
    if attribute == LINES_DIRECT {
        return Some(None);
    }
    SupportId::parse(attribute.strip_prefix(LINES_BY_PREFIX)?).ok().map(Some)
}
/// A site's member roster (`SITE#{s}`/`MEMBER#{e}`): written and deleted in the same
/// transactions as the membership, so a consistent query of the site lists every member
/// (the members index `gsi1` is eventually consistent).
pub fn site_roster(s: &SupportId, e: &Email) -> Key {
    Key::new(site_pk(s), format!("{MEMBER_PREFIX}{e}"))
}
pub const HISTORY_PREFIX: &str = "HISTORY#";
pub fn site_history(s: &SupportId, at: &str, id: &str) -> Key {
    Key::new(site_pk(s), format!("{HISTORY_PREFIX}{at}#{id}"))
}
/// An order whose listings at a site may hold entries that are not current: staged versions,
/// or older versions not yet cleaned (or cleaned less than a grace period ago, while the
/// indexes forget them). Listings trust every other order's entries as they are.
pub const UNSETTLED_PREFIX: &str = "UNSETTLED#";
pub fn unsettled(s: &SupportId, o: &OrderId) -> Key {
    Key::new(site_pk(s), format!("{UNSETTLED_PREFIX}{o}"))
}
pub fn sold_pk(reseller: &SupportId) -> String {
    format!("SOLD#{reseller}")
}
pub const SOLD_PREFIX: &str = "TO#";
pub fn sold_counter(reseller: &SupportId, s: &SupportId) -> Key {
    Key::new(sold_pk(reseller), format!("{SOLD_PREFIX}{s}"))
}
/// The support id a `TO#{s}` sort key names.
pub fn sold_counter_site(sk: &str) -> Option<&str> {
    sk.strip_prefix(SOLD_PREFIX)
}

// ---- contacts ---------------------------------------------------------------------

pub fn contact_pk(e: &Email) -> String {
    format!("CONTACT#{e}")
}
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const GRANT_PREFIX: &str = "GRANT#";
/// The sort-key range of a contact's partition that holds its ship-to grants and its
/// memberships (`GRANT#` sorts before `MEMBER#`), for reading both in one query.
pub fn grants_and_memberships() -> (String, String) {
    (GRANT_PREFIX.to_string(), format!("{MEMBER_PREFIX}~"))
}
pub fn membership(e: &Email, s: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("{MEMBER_PREFIX}{s}"))
}
pub fn site_members_gsi1pk(s: &SupportId) -> String {
    format!("SITE#{s}#MEMBERS")
}
pub fn member_gsi1sk(role: Role, e: &Email) -> String {
    format!("{role}#{e}")
}
pub fn ship_to_grant(e: &Email, o: &OrderId) -> Key {
    Key::new(contact_pk(e), format!("{GRANT_PREFIX}{o}"))
}
/// A contact's ship-to reach at one site: how many current entitlements of the site the
/// contact's ship-to grants show, in total and per reseller (`via:{r}`), kept exact by the
/// switch transaction of every order that names the contact as ship-to.
pub const SHIP_TO_REACH_PREFIX: &str = "SHIPTO#";
pub fn ship_to_reach(e: &Email, s: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("{SHIP_TO_REACH_PREFIX}{s}"))
}
/// The attribute of a ship-to reach holding the count of entitlements sold by `reseller`.
pub fn via_reseller(reseller: &SupportId) -> String {
    format!("via:{reseller}")
}
/// The contact is a member of a site that has resold (R3 reaches that site's customers).
pub const RESELLER_PREFIX: &str = "RESELLER#";
pub fn reseller_marker(e: &Email, r: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("{RESELLER_PREFIX}{r}"))
}
/// A ship-to contact's copy of the lines of the orders they hold grants on, per site, sorted
/// by the same positions as the index listings (`{serial}#{v}`).
pub fn shipped_pk(e: &Email, s: &SupportId) -> String {
    format!("SHIPPED#{e}#{s}")
}
/// Whether a partition key is a ship-to contact's copies (else an order's lines).
pub fn is_shipped_pk(pk: &str) -> bool {
    pk.starts_with("SHIPPED#")
}
pub fn shipped_line(e: &Email, s: &SupportId, serial: &Serial, v: u64) -> Key {
    Key::new(shipped_pk(e, s), line_index_sk(serial, v))
}
pub fn open_request(e: &Email, s: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("OPEN#{s}"))
}

// ---- access requests and audit ----------------------------------------------------

pub fn request(id: &str) -> Key {
    Key::new(format!("REQUEST#{id}"), "REQUEST")
}
pub fn site_requests_gsi1pk(s: &SupportId) -> String {
    format!("SITE#{s}#REQUESTS")
}
pub fn contact_requests_gsi2pk(e: &Email) -> String {
    format!("CONTACT#{e}#REQUESTS")
}
pub fn request_index_sk(at: &str, id: &str) -> String {
    format!("{at}#{id}")
}
/// Pending-admin requests by creation day, so the SLA sweep queries the days past the
/// deadline instead of scanning.
pub fn pending_day_pk(day: &str) -> String {
    format!("PENDING#{day}")
}
pub fn pending_marker(day: &str, at: &str, id: &str) -> Key {
    Key::new(pending_day_pk(day), format!("{at}#{id}"))
}
pub fn entitlement_audit(serial: &Serial, at: &str, id: &str) -> Key {
    Key::new(format!("AUDIT#{serial}"), format!("{at}#{id}"))
}

// ---- access workflow: work lists, outbox, sweep watermark ------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | site's open `pending_admin` request | `SITE#{s}` | `PENDING#{at}#{id}` |
// | open `escalated` request (Care's work list) | `CARE#ESCALATED` | `{at}#{id}` |
// | Care-queue outbox: an escalation message not yet sent | `OUTBOX#CARE` | `ESCALATION#{id}` |
// | Care-queue outbox: a site that lost its last admin | `OUTBOX#CARE` | `ORPHANED#{s}` |
// | admin-SLA sweep watermark (first day not fully swept) | `SWEEP#ADMIN_SLA` | `WATERMARK` |
//
// The work lists are main-table partitions (strongly consistent queries), so "this site's
// pending requests" is exact at the moment its last admin leaves.

pub const SITE_PENDING_PREFIX: &str = "PENDING#";
pub fn site_pending(s: &SupportId, at: &str, id: &str) -> Key {
    Key::new(site_pk(s), format!("{SITE_PENDING_PREFIX}{at}#{id}"))
}
pub const CARE_ESCALATED_PK: &str = "CARE#ESCALATED";
pub fn care_escalated(at: &str, id: &str) -> Key {
    Key::new(CARE_ESCALATED_PK.to_string(), format!("{at}#{id}"))
}
pub const OUTBOX_PK: &str = "OUTBOX#CARE";
pub const OUTBOX_ESCALATION_PREFIX: &str = "ESCALATION#";
pub const OUTBOX_ORPHANED_PREFIX: &str = "ORPHANED#";
pub fn outbox_escalation(id: &str) -> Key {
    Key::new(OUTBOX_PK.to_string(), format!("{OUTBOX_ESCALATION_PREFIX}{id}"))
}
pub fn outbox_orphaned_site(s: &SupportId) -> Key {
    Key::new(OUTBOX_PK.to_string(), format!("{OUTBOX_ORPHANED_PREFIX}{s}"))
}
pub fn sweep_watermark() -> Key {
    Key::new("SWEEP#ADMIN_SLA".to_string(), "WATERMARK")
}
// ---- access limits: open-request counter and rejection cool-downs ----------------------
//
// | item | pk | sk |
// |---|---|---|
// | a contact's open-request counter | `CONTACT#{e}` | `LIMITS` |
// | a rejection's cool-down (contact, site) | `CONTACT#{e}` | `COOLDOWN#{s}` |

pub fn contact_limits(e: &Email) -> Key {
    Key::new(contact_pk(e), "LIMITS")
}
pub fn rejection_cooldown(e: &Email, s: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("COOLDOWN#{s}"))
}

// ---- rollout waves: the sites the view is enabled for ----------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | a site the view is enabled for (the flag itself is `view_enabled` on `SITE#{s}`/`META`) | `ROLLOUT#ENABLED` | `{s}` |

pub const ROLLOUT_ENABLED_PK: &str = "ROLLOUT#ENABLED";
pub fn rollout_enabled(s: &SupportId) -> Key {
    Key::new(ROLLOUT_ENABLED_PK.to_string(), s.to_string())
}

// ---- claims by proof of purchase (issue 21) ----------------------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | a claim of a site by a contact (serial + order), revocable within the site's window | `SITE#{s}` | `CLAIM#{e}` |
// | a contact's wrong claim attempts (by digest of the pair) and lock-out | `CONTACT#{e}` | `CLAIM_ATTEMPTS` |
// | Care-queue outbox: a notice not yet sent (a claim at a site with no admin) | `OUTBOX#CARE` | `NOTICE#{id}` |
//
// A site's claims are a main-table partition range (consistent: the admins' list is exact).

pub const CLAIM_PREFIX: &str = "CLAIM#";
pub fn site_claim(s: &SupportId, e: &Email) -> Key {
    Key::new(site_pk(s), format!("{CLAIM_PREFIX}{e}"))
}
pub fn claim_attempts(e: &Email) -> Key {
    Key::new(contact_pk(e), "CLAIM_ATTEMPTS")
}
pub const OUTBOX_NOTICE_PREFIX: &str = "NOTICE#";
pub fn outbox_notice(id: &str) -> Key {
    Key::new(OUTBOX_PK.to_string(), format!("{OUTBOX_NOTICE_PREFIX}{id}"))
}

// ---- memberships that expire (issue 21) --------------------------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | a membership's end (`ends_at` on the membership and its reseller marker), by day | `MEMBER_ENDS#{day}` | `{ends_at}#{s}#{e}` |
// | the expiry sweep's watermark (first day not fully swept) | `SWEEP#MEMBER_ENDS` | `WATERMARK` |

pub fn membership_ends_pk(day: &str) -> String {
    format!("MEMBER_ENDS#{day}")
}
pub fn membership_end(day: &str, ends_at: &str, s: &SupportId, e: &Email) -> Key {
    Key::new(membership_ends_pk(day), format!("{ends_at}#{s}#{e}"))
}
pub fn membership_sweep_watermark() -> Key {
    Key::new("SWEEP#MEMBER_ENDS".to_string(), "WATERMARK")
}

// ---- domain rules and invitations (issue 21) ----------------------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | a site's domain rule: verified e-mail at `{d}` is approved as `user` | `SITE#{s}` | `DOMAIN_RULE#{d}` |
// | an invitation of `{e}` to a site (the admins' list) | `SITE#{s}` | `INVITE#{e}` |
// | the same invitation in the invitee's partition (found by their e-mail, one Query) | `CONTACT#{e}` | `INVITED#{s}` |
//
// Both invitation items are written and deleted in one transaction; a rule is one item, so
// the request that matches it reads it with one GetItem by key (no Query).

pub const DOMAIN_RULE_PREFIX: &str = "DOMAIN_RULE#";
pub fn site_domain_rule(s: &SupportId, domain: &str) -> Key {
    Key::new(site_pk(s), format!("{DOMAIN_RULE_PREFIX}{domain}"))
}
pub const INVITE_PREFIX: &str = "INVITE#";
pub fn site_invitation(s: &SupportId, e: &Email) -> Key {
    Key::new(site_pk(s), format!("{INVITE_PREFIX}{e}"))
}
pub const INVITED_PREFIX: &str = "INVITED#";
pub fn contact_invitation(e: &Email, s: &SupportId) -> Key {
    Key::new(contact_pk(e), format!("{INVITED_PREFIX}{s}"))
}

// ---- access reviews (issue 21) ------------------------------------------------------------
//
// | item | pk | sk |
// |---|---|---|
// | a member confirmed in the review due at `{due}` | `SITE#{s}` | `REVIEW#{due}#{e}` |
// | a site's review due at `{due}`, by day (the review sweep's index) | `REVIEW_DUE#{day}` | `{due}#{s}` |
// | the review sweep's watermark (first day not fully swept) | `SWEEP#REVIEW_DUE` | `WATERMARK` |
//
// The schedule itself (`review_every_days`, `review_due_at`) is on the site record.

pub const REVIEW_PREFIX: &str = "REVIEW#";
pub fn review_round_prefix(due: &str) -> String {
    format!("{REVIEW_PREFIX}{due}#")
}
pub fn review_confirmation(s: &SupportId, due: &str, e: &Email) -> Key {
    Key::new(site_pk(s), format!("{}{e}", review_round_prefix(due)))
}
pub fn review_due_pk(day: &str) -> String {
    format!("REVIEW_DUE#{day}")
}
pub fn review_due(day: &str, due: &str, s: &SupportId) -> Key {
    Key::new(review_due_pk(day), format!("{due}#{s}"))
}
pub fn review_sweep_watermark() -> Key {
    Key::new("SWEEP#REVIEW_DUE".to_string(), "WATERMARK")
}

// ---- per-caller request limits, and who writes which partitions (issue 18) ---------------
//
// | item | pk | sk |
// |---|---|---|
// | a caller's request bucket (GCRA: its theoretical arrival time) | `RATE#{sha256(subject)}` | `BUCKET` |

/// A caller's request bucket: keyed by a digest of the token's subject (fixed length, no
/// e-mail address in a key), written by both HTTP functions.
pub fn rate_bucket(subject_digest: &str) -> Key {
    Key::new(format!("RATE#{subject_digest}"), "BUCKET")
}

// ---- renewal radar (issue 20): entitlements by end date --------------------------------
//
// Partitions are one end month of one source the view already lists by serial (a site, a
// reseller, a ship-to contact), so a 90-day window is at most 5 queries per source whatever
// the source holds; sort keys put the soonest end first, ties by serial, then
// version, exactly like the serial listings' positions (`{serial}#{v}` / `{serial}#~`).

/// The end month (`YYYY-MM`) an index partition of the radar holds.
pub fn end_month(day: Day) -> String {
    format!("{:04}-{:02}", day.0.year(), u8::from(day.0.month()))
}
pub fn renewals_site_gsi3pk(s: &SupportId, month: &str) -> String {
    format!("ENDS#SITE#{s}#{month}")
}
pub fn renewals_shipped_gsi3pk(e: &Email, month: &str) -> String {
    format!("ENDS#SHIPPED#{e}#{month}")
}
pub fn renewals_sold_gsi4pk(r: &SupportId, month: &str) -> String {
    format!("ENDS#SOLD#{r}#{month}")
}
/// A line's radar sort key: its end day, then its listing position (`{d}#{serial}#{v}`).
pub fn renewal_sk(ends_on: Day, serial: &Serial, v: u64) -> String {
    format!("{ends_on}#{}", line_index_sk(serial, v))
}
/// A radar position: `{d}#{serial}#{v}` (after one entry) or `{d}#{serial}#~` (after every
/// version of the serial at that end day).
pub fn renewal_position(ends_on: Day, position: &str) -> String {
    format!("{ends_on}#{position}")
}
/// Reads a radar position back into its end day and its serial position.
pub fn parse_renewal_position(raw: &str) -> Option<(Day, &str)> {
    let (day, position) = raw.split_once('#')?;
    (!position.is_empty()).then_some(())?;
    Some((Day::parse(day)?, position))
}
/// The upper bound of a radar window: every entry ending on `last` or earlier.
pub fn renewals_until(last: Day) -> String {
    format!("{last}#~")
}

/// The partition-key patterns each function (`ingest`, `access`, `view`) writes, as IAM
/// `dynamodb:LeadingKeys` patterns, worked out from the keys its writers build here: each
/// item is built twice from different values, and a partition key that differs becomes its
/// common prefix up to a `#` plus `*` (a key that does not is a fixed name). The template's
/// roles must grant exactly these (tests/tests/template_wiring.rs).
pub fn written_partitions() -> Vec<(&'static str, Vec<String>)> {
    use std::collections::BTreeSet;
    type Build = fn(&Email, &SupportId, &OrderId, &Serial, &str) -> Key;
    let ingest: &[Build] = &[
        |_, _, o, _, _| order_head(o),
        |_, _, o, _, _| order_version(o, 1),
        |_, _, o, sn, _| order_line(o, 1, sn),
        |_, _, _, sn, _| serial_claim(sn),
        |_, s, _, _, _| site_meta(s),
        |_, s, _, _, x| site_history(s, x, x),
        |_, s, o, _, _| unsettled(s, o),
        |_, s, _, _, _| sold_counter(s, s),
        |e, s, _, _, _| membership(e, s),
        |e, _, o, _, _| ship_to_grant(e, o),
        |e, s, _, _, _| ship_to_reach(e, s),
        |e, s, _, _, _| reseller_marker(e, s),
        |e, s, _, sn, _| shipped_line(e, s, sn, 1),
        |e, s, _, _, _| site_roster(s, e),
        |_, _, o, _, _| settle_pending(o),
    ];
    let access: &[Build] = &[
        |_, _, _, _, x| request(x),
        |e, s, _, _, _| open_request(e, s),
        |_, _, _, _, x| pending_marker(x, x, x),
        |_, s, _, _, x| site_pending(s, x, x),
        |_, _, _, _, x| care_escalated(x, x),
        |_, _, _, _, x| outbox_escalation(x),
        |_, s, _, _, _| outbox_orphaned_site(s),
        |_, _, _, _, _| sweep_watermark(),
        |e, _, _, _, _| contact_limits(e),
        |e, s, _, _, _| rejection_cooldown(e, s),
        |_, s, _, _, _| rollout_enabled(s),
        |e, s, _, _, _| membership(e, s),
        |e, s, _, _, _| reseller_marker(e, s),
        |e, s, _, _, _| site_roster(s, e),
        |_, s, _, _, _| site_meta(s),
        |_, s, _, _, x| site_history(s, x, x),
        |_, _, _, _, x| rate_bucket(x),
        |e, s, _, _, _| site_claim(s, e),
        |e, _, _, _, _| claim_attempts(e),
        |_, _, _, _, x| outbox_notice(x),
        |e, s, _, _, x| membership_end(x, x, s, e),
        |_, _, _, _, _| membership_sweep_watermark(),
        |_, s, _, _, x| site_domain_rule(s, x),
        |e, s, _, _, _| site_invitation(s, e),
        |e, s, _, _, _| contact_invitation(e, s),
        |e, s, _, _, x| review_confirmation(s, x, e),
        |_, s, _, _, x| review_due(x, x, s),
        |_, _, _, _, _| review_sweep_watermark(),
    ];
    let view: &[Build] =
        &[|_, _, _, sn, x| entitlement_audit(sn, x, x), |_, _, _, _, x| rate_bucket(x), |e, _, _, _, _| notice_settings(e)];
    // Issue 20 part 2: the notices function writes only its own claims, digests and leases.
    let notices: &[Build] = &[
        |e, _, _, sn, x| notice_claim(e, sn.as_str(), x, 7),
        |e, s, _, _, x| notice_access_claim(e, s.as_str(), x),
        |e, _, _, _, x| notice_digest(e, x),
        |e, _, _, _, _| notice_lease(e),
    ];
    let samples = |n: &str| {
        let parsed = (
            Email::parse(&format!("{n}@{n}.example")),
            SupportId::parse(&format!("{n}-1")),
            OrderId::parse(&format!("{n}-1")),
            Serial::parse(&format!("{n}1")),
        );
        match parsed {
            (Ok(e), Ok(s), Ok(o), Ok(sn)) => Some((e, s, o, sn, n.to_string())),
            _ => None,
        }
    };
    let (Some(a), Some(b)) = (samples("A"), samples("B")) else { return Vec::new() };
    let pattern = |build: &Build| {
        let (x, y) = (build(&a.0, &a.1, &a.2, &a.3, &a.4).pk, build(&b.0, &b.1, &b.2, &b.3, &b.4).pk);
        if x == y {
            return x;
        }
        let common = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
        let cut = x[..common].rfind('#').map_or(0, |i| i + 1);
        format!("{}*", &x[..cut])
    };
    [("ingest", ingest), ("access", access), ("view", view), ("notices", notices)]
        .into_iter()
        .map(|(f, builds)| (f, builds.iter().map(pattern).collect::<BTreeSet<_>>().into_iter().collect()))
        .collect()
}

// ---- expiry notices (issue 20 part 2) ------------------------------------------------------

/// A line item's partition of the end-day index: its day and its serial's shard.
pub fn ends_on_gsi5pk(ends_on: Day, serial: &Serial) -> String {
    ends_on_shard_pk(ends_on, gsi5_shard(serial.as_str()))
}
/// Every partition of one end day.
pub fn ends_on_gsi5pks(day: Day) -> impl Iterator<Item = String> {
    (0..GSI5_SHARDS).map(move |shard| ends_on_shard_pk(day, shard))
}
fn ends_on_shard_pk(day: Day, shard: u32) -> String {
    format!("ENDS_ON#{day}#{shard:02}")
}
/// A serial's shard: FNV-1a, stable across builds and machines (the std hasher is seeded).
fn gsi5_shard(serial: &str) -> u32 {
    let hash = serial.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % GSI5_SHARDS
}
//
// | item | pk | sk | gsi5 (pk / sk) |
// |---|---|---|---|
// | an entitlement line (existing item) | `ORDER#{o}` | `LINE#{v}#{serial}` | `ENDS_ON#{ends_on}#{shard}` / `SITE#{s}#ENT` |
// | a notice claim: (contact, serial, end day, threshold), `pending` → `sent`, with its digest | `NOTICE#{e}` | `LINE#{serial}#{ends_on}#{t}` | |
// | a digest SES accepted (the commit point of a send) | `NOTICE#{e}` | `DIGEST#{id}` | |
// | a contact's run lease (one run at a time per contact) | `NOTICE#{e}` | `LEASE` | |
// | a contact's notice setting (`enabled`) | `NOTICE_PREFS#{e}` | `SETTINGS` | |
//
// The notices function writes only `NOTICE#` partitions; the setting lives in a partition of
// its own so the view function (which serves `PUT /v1/me/notices` and the unsubscribe link)
// writes no `CONTACT#` partition and the notices function no setting.

pub fn notice_pk(e: &Email) -> String {
    format!("NOTICE#{e}")
}
pub const NOTICE_CLAIM_PREFIX: &str = "LINE#";
pub const NOTICE_DIGEST_PREFIX: &str = "DIGEST#";
/// A claim's sort key: the threshold zero-padded, so a line's claims sort by it.
pub fn notice_claim(e: &Email, serial: &str, ends_on: &str, threshold: u32) -> Key {
    Key::new(notice_pk(e), format!("{NOTICE_CLAIM_PREFIX}{serial}#{ends_on}#{threshold:03}"))
}
/// Reads a claim's sort key back: (serial, end day, threshold).
pub fn parse_notice_claim(sk: &str) -> Option<(&str, &str, u32)> {
    let rest = sk.strip_prefix(NOTICE_CLAIM_PREFIX)?;
    let (rest, threshold) = rest.rsplit_once('#')?;
    let (serial, day) = rest.rsplit_once('#')?;
    Some((serial, day, threshold.parse().ok()?))
}
/// An access notice's claim (the contact's own membership of a site ends at `ends_at`).
pub const NOTICE_ACCESS_PREFIX: &str = "ACCESS_ENDS#";
pub fn notice_access_claim(e: &Email, site: &str, ends_at: &str) -> Key {
    Key::new(notice_pk(e), format!("{NOTICE_ACCESS_PREFIX}{site}#{ends_at}"))
}
/// Reads an access notice claim's sort key back: (Support ID, end).
pub fn parse_notice_access_claim(sk: &str) -> Option<(&str, &str)> {
    sk.strip_prefix(NOTICE_ACCESS_PREFIX)?.split_once('#')
}
pub fn notice_digest(e: &Email, id: &str) -> Key {
    Key::new(notice_pk(e), format!("{NOTICE_DIGEST_PREFIX}{id}"))
}
pub fn notice_lease(e: &Email) -> Key {
    Key::new(notice_pk(e), "LEASE")
}
pub fn notice_settings(e: &Email) -> Key {
    Key::new(format!("NOTICE_PREFS#{e}"), "SETTINGS")
}
/// The order a line item's partition key names (`ORDER#{o}`).
pub fn order_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("ORDER#")
}
/// The site a line item's `gsi1pk` names (`SITE#{s}#ENT`).
pub fn site_of_entitlements_gsi1pk(gsi1pk: &str) -> Option<&str> {
    gsi1pk.strip_prefix("SITE#")?.strip_suffix("#ENT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_days_lines_spread_over_every_end_day_shard() {
        let day = Day::parse("2027-12-31").unwrap();
        let mut per_shard = std::collections::BTreeMap::<String, usize>::new();
        for i in 0..1000 {
            *per_shard.entry(ends_on_gsi5pk(day, &Serial::parse(&format!("SN-{i:05}")).unwrap())).or_default() += 1;
        }
        let shards: Vec<String> = ends_on_gsi5pks(day).collect();
        assert_eq!(per_shard.keys().cloned().collect::<Vec<_>>(), shards, "every shard used, none other");
        assert!(per_shard.values().all(|n| *n <= 2 * 1000 / GSI5_SHARDS as usize), "{per_shard:?}");
        // Pinned (FNV-1a 32): a stored item's shard must not move with a new build.
        assert_eq!(ends_on_gsi5pk(day, &Serial::parse("S1").unwrap()), "ENDS_ON#2027-12-31#01");
        assert_eq!(gsi5_shard("SN-00042"), 7);
    }

    #[test]
    fn versions_sort_numerically() {
        assert!(version(9) < version(10));
        assert!(line_prefix(2) < line_prefix(10));
    }

    #[test]
    fn one_range_holds_a_contacts_grants_and_memberships() {
        let e = Email::parse("a@b.example").unwrap();
        let (from, to) = grants_and_memberships();
        let inside = |k: Key| k.sk >= from && k.sk <= to;
        assert!(inside(ship_to_grant(&e, &OrderId::parse("O-1").unwrap())));
        assert!(inside(membership(&e, &SupportId::parse("ZZZ-9").unwrap())));
        assert!(!inside(open_request(&e, &SupportId::parse("A-1").unwrap())));
    }

    #[test]
    fn positions_resume_after_one_entry_or_after_every_version() {
        assert_eq!(parse_position("S1#0000000002"), ("S1", Some(2)));
        assert_eq!(parse_position("S1#~"), ("S1", None));
        assert_eq!(parse_position("S1"), ("S1", None));
        // After S1's version-1 entry, S1's version-2 line is still ahead; after S1#~ it is not.
        assert_eq!(line_listing_start(2, "S1#0000000001"), "LINE#0000000002#S1");
        assert_eq!(line_listing_start(2, "S1#~"), "LINE#0000000002#S1#~");
        assert_eq!(line_listing_start(2, "S1#0000000002"), "LINE#0000000002#S1#~");
        assert!(lines_before(2) > line_prefix(1) && lines_before(2) < line_prefix(2));
    }

    #[test]
    fn serial_index_keys_sort_like_serials() {
        let s1 = Serial::parse("S1").unwrap();
        let s10 = Serial::parse("S10").unwrap();
        let s1a = Serial::parse("S1-A").unwrap();
        assert!(line_index_sk(&s1, 99) < line_index_sk(&s1a, 1));
        assert!(line_index_sk(&s1a, 99) < line_index_sk(&s10, 1));
        assert!(after_serial("S1") > line_index_sk(&s1, 9_999_999_999));
        assert!(after_serial("S1") < line_index_sk(&s1a, 1));
    }
}
