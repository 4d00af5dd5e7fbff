//! The detail route's read (licence keys: the current line, checked against the caller's
//! membership, grant and reseller marker, all read consistently) and its audit trail.

use super::{SiteRef, VisibleEntitlement};
use crate::domain::access::Rollout;
use crate::domain::entitlement::{EntitlementStatus, LineItem};
use crate::domain::rules::{access, Placement, Reach};
use crate::domain::{Access, Day, Email, Serial};
use crate::store::items::{SerialClaim, ShipToGrant};
use crate::store::keys::{self, Item};
use crate::store::table::{Query, Range};
use crate::store::{from_item, s, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;

/// How many times a detail read starts again when the order's head moved under it.
const DETAIL_ATTEMPTS: usize = 3;

/// One attempt at a detail read: an answer, or the head moved during the read.
#[allow(clippy::large_enum_variant)] // one value per request, returned at once
enum DetailRead {
    Stable(Option<(VisibleEntitlement, SiteRef)>),
    Moved,
}

impl Store {
    /// One entitlement if `email` may see it (`None` exactly as if it did not exist).
    /// Rounds: (1) the serial's claim, (2) the order head, (3) the line, its site, and the
    /// caller's membership of the site, grant on the order and reseller marker, (4) the head
    /// again. Versions only grow, so a head that reads the same in (2) and (4) was current
    /// when each standing of (3) was read: the keys are shown only for a standing and a
    /// version that held at one moment (a contact provisioned by a version after the next
    /// one switched never sees the older version's keys). A head that moved meanwhile
    /// starts the read again, a few times at most.
    pub async fn entitlement(
        &self,
        email: &Email,
        serial: &Serial,
        today: Day,
        rollout: Rollout,
    ) -> Result<Option<(VisibleEntitlement, SiteRef)>, StoreError> {
        for _ in 0..DETAIL_ATTEMPTS {
            if let DetailRead::Stable(found) = self.entitlement_once(email, serial, today, rollout).await? {
                return Ok(found);
            }
        }
        // The order kept changing under the read: show nothing rather than guess.
        Ok(None)
    }

    async fn entitlement_once(&self, email: &Email, serial: &Serial, today: Day, rollout: Rollout) -> Result<DetailRead, StoreError> {
        let Some(claim) = self.get("GetItem serial claim", &keys::serial_claim(serial), false).await? else {
            return Ok(DetailRead::Stable(None));
        };
        let order_id = from_item::<SerialClaim>(claim)?.order_id;
        let Some(head) = self.order_head(&order_id, true).await? else { return Ok(DetailRead::Stable(None)) };
        if !head.is_active() {
            return Ok(DetailRead::Stable(None));
        }
        let line_key = keys::order_line(&order_id, head.current_version, serial);
        let reseller_marker = async {
            match &head.reseller {
                Some(r) => self.get("GetItem reseller marker", &keys::reseller_marker(email, r), true).await,
                None => Ok(None),
            }
        };
        let (membership_key, grant_key) = (keys::membership(email, &head.end_customer), keys::ship_to_grant(email, &order_id));
        let (item, site, membership, grant, marker) = futures::try_join!(
            self.get("GetItem entitlement line", &line_key, false),
            self.shown_site(&head.end_customer, rollout),
            self.get("GetItem membership", &membership_key, true),
            self.get("GetItem ship-to grant", &grant_key, true),
            reseller_marker,
        )?;
        let Some(item) = item else { return Ok(DetailRead::Stable(None)) };
        // A site not (yet) in views hides its keys too.
        if site.is_none() && !rollout.shows(false) {
            return Ok(DetailRead::Stable(None));
        }
        let line: LineItem = from_item(item)?;
        let granted = grant.map(from_item::<ShipToGrant>).transpose()?.is_some_and(|g| g.versions.contains(&head.current_version));
        // The caller's reach as read, and the §2 rules (`domain::rules::access`) over it.
        let mut reach = Reach::default();
        let now = super::now_stamp();
        let (membership, marker) = (membership.filter(|i| super::in_force(i, &now)), marker.filter(|i| super::in_force(i, &now)));
        if membership.is_some() {
            reach.member_of.insert(head.end_customer.clone());
        }
        if let (Some(r), Some(_)) = (&head.reseller, &marker) {
            reach.member_of.insert(r.clone());
        }
        if granted {
            reach.ship_to_orders.insert(order_id.clone());
        }
        let at = Placement { owner: &head.end_customer, order_id: &order_id, reseller: head.reseller.as_ref() };
        let rules = access(&reach, at);
        if rules.is_empty() {
            return Ok(DetailRead::Stable(None));
        }
        let again = self.order_head(&order_id, true).await?;
        if again.as_ref().map(|h| (h.current_version, h.is_active())) != Some((head.current_version, true)) {
            return Ok(DetailRead::Moved);
        }
        let site = site.unwrap_or(SiteRef { support_id: line.site.clone(), name: line.site.to_string() });
        let status = EntitlementStatus::on(today, line.line.starts_on, line.line.ends_on);
        Ok(DetailRead::Stable(Some((VisibleEntitlement { line, status, access: rules }, site))))
    }

    /// Appends to the audit trail of an entitlement's detail reads: who asked, and whether
    /// the keys were shown (`rules` non-empty) or refused (`outcome` `not_found`), so probing
    /// for serials leaves a trace too.
    pub async fn record_entitlement_read(
        &self,
        who: &Email,
        serial: &Serial,
        rules: &[Access],
        request_id: &str,
        retention: Option<time::Duration>,
    ) -> Result<(), StoreError> {
        let at = crate::store::orders::now_rfc3339();
        let mut item = keys::entitlement_audit(serial, &at, request_id).to_item();
        item.insert("who".into(), s(who.as_str()));
        item.insert("at".into(), s(at.clone()));
        item.insert("serial".into(), s(serial.as_str()));
        item.insert("request_id".into(), s(request_id));
        item.insert("outcome".into(), s(if rules.is_empty() { "not_found" } else { "shown" }));
        // The table's TTL deletes the entry after the retention the operator set (none: kept).
        if let Some(retention) = retention {
            let expires = (time::OffsetDateTime::now_utc() + retention).unix_timestamp();
            item.insert("ttl".into(), crate::store::n(expires));
        }
        if !rules.is_empty() {
            item.insert("access".into(), AttributeValue::Ss(rules.iter().map(|r| format!("{r:?}").to_lowercase()).collect()));
        }
        self.put("PutItem entitlement audit", item, None).await?;
        Ok(())
    }

    /// The audit trail of one entitlement's detail reads, oldest first.
    pub async fn entitlement_reads(&self, serial: &Serial) -> Result<Vec<Item>, StoreError> {
        self.query_all(Query::table("Query entitlement audit", keys::entitlement_audit(serial, "", "").pk, Range::All)).await
    }
}
