//! `GET /v1/renewals` (issue 20): the renewal radar — what the caller can see that ends
//! within `within_days`, soonest first, grouped per site with counts at 30 / 60 / 90 days.
//! The page is `Store::renewals`; this module parses the query, seals the cursor (which
//! carries the walk's window) and shapes the answer.

use super::dto::Problem;
use super::identity::Caller;
use super::list::Limit;
use super::problem::ApiError;
use super::ViewState;
use crate::domain::{Access, Day, Serial, SupportId};
use crate::store::view::{EntitlementStatus, Renewal, RenewalWindow, DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::{IntoParams, ToSchema};

const BAD_CURSOR: &str = "cursor is malformed or does not belong to this list";

/// `within_days`: a whole number of days from 1 to 365; 90 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithinDays(u32);

impl WithinDays {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for WithinDays {
    fn default() -> WithinDays {
        WithinDays(DEFAULT_WINDOW_DAYS)
    }
}

impl<'de> Deserialize<'de> for WithinDays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WithinDays, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WithinDays;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number of days from 1 to {MAX_WINDOW_DAYS}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<WithinDays, E> {
                u32::try_from(n)
                    .ok()
                    .filter(|d| (1..=MAX_WINDOW_DAYS).contains(d))
                    .map(WithinDays)
                    .ok_or_else(|| E::custom(format!("within_days must be a whole number from 1 to {MAX_WINDOW_DAYS}, got {n}")))
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<WithinDays, E> {
                raw.parse::<u64>()
                    .map_err(|_| E::custom(format!("within_days must be a whole number from 1 to {MAX_WINDOW_DAYS}, got {raw:?}")))
                    .and_then(|n| self.visit_u64(n))
            }
        }
        d.deserialize_any(V)
    }
}

/// A radar cursor as it arrives: a non-empty opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadarCursor(String);

impl<'de> Deserialize<'de> for RadarCursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RadarCursor, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.is_empty() {
            return Err(serde::de::Error::custom(BAD_CURSOR));
        }
        Ok(RadarCursor(raw))
    }
}

/// The radar's parameters: the window and the page.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenewalsQuery {
    /// The window in days from today (today included): 1-365, default 90. Anything else is 400.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 365, default = 90)]
    #[serde(default)]
    pub within_days: WithinDays,
    /// Page size: 1-500, default 100. Anything else is 400. A page may hold fewer (even none) while `next_cursor` is not null.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 100)]
    #[serde(default)]
    pub limit: Limit,
    /// The `next_cursor` of the previous page, with the same `within_days`, for the same caller. Opaque; a malformed or foreign cursor is 400.
    #[param(value_type = Option<String>, min_length = 1)]
    #[serde(default)]
    pub cursor: Option<RadarCursor>,
}

/// What a radar cursor holds: the walk's window (fixed by its first page) and where it stopped.
#[derive(Debug, Serialize, Deserialize)]
struct RadarPosition {
    window: RenewalWindow,
    after: String,
}

/// How many entitlements end within 30, 60 and 90 days (cumulative), and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RenewalCounts {
    pub within_30: u64,
    pub within_60: u64,
    pub within_90: u64,
    pub total: u64,
}

impl RenewalCounts {
    fn add(&mut self, days_left: i64) {
        self.within_30 += u64::from(days_left <= 30);
        self.within_60 += u64::from(days_left <= 60);
        self.within_90 += u64::from(days_left <= 90);
        self.total += 1;
    }
}

/// One entitlement on the radar: the entitlement list's fields and the days left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalEntitlement {
    pub serial: Serial,
    pub sku: String,
    pub product: String,
    pub quantity: u64,
    pub starts_on: Day,
    pub ends_on: Day,
    pub status: EntitlementStatus,
    pub order_id: String,
    /// The rules through which the caller sees it (one or more).
    pub access: Vec<Access>,
    /// Days from today (UTC) to `ends_on`: 0 when it ends today.
    pub days_left: i64,
}

/// The page's entitlements of one account site, soonest first, with their counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalSite {
    pub support_id: SupportId,
    pub name: String,
    /// Of this page's entitlements of the site.
    pub counts: RenewalCounts,
    pub entitlements: Vec<RenewalEntitlement>,
}

/// The window of a radar walk (fixed by its first page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RenewalWindowView {
    /// The first day of the window (the walk's first page's today).
    pub from: Day,
    /// The last day of the window: `from` + `within_days`.
    pub until: Day,
    pub within_days: u32,
}

/// `GET /v1/renewals`: one page of the renewal radar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalsPage {
    pub window: RenewalWindowView,
    /// Of this page's entitlements; the radar's totals are the sums over its pages.
    pub counts: RenewalCounts,
    /// The page's entitlements grouped per site; sites in the order of their soonest
    /// entitlement, each site's entitlements soonest first (ties by serial).
    pub sites: Vec<RenewalSite>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// The answer of a page: its renewals (soonest first) grouped per site, with counts from `today`.
pub fn group(renewals: &[Renewal], today: Day) -> (RenewalCounts, Vec<RenewalSite>) {
    let mut counts = RenewalCounts::default();
    let mut sites: Vec<RenewalSite> = Vec::new();
    for r in renewals {
        let e = &r.entitlement;
        let l = &e.line.line;
        let days_left = (l.ends_on.0 - today.0).whole_days();
        counts.add(days_left);
        let entry = RenewalEntitlement {
            serial: l.serial.clone(),
            sku: l.sku.clone(),
            product: l.product.clone(),
            quantity: l.quantity,
            starts_on: l.starts_on,
            ends_on: l.ends_on,
            status: e.status,
            order_id: e.line.order_id.to_string(),
            access: e.access.clone(),
            days_left,
        };
        let at = match sites.iter().position(|s| s.support_id == r.site.support_id) {
            Some(at) => at,
            None => {
                let site = &r.site;
                sites.push(RenewalSite {
                    support_id: site.support_id.clone(),
                    name: site.name.clone(),
                    counts: RenewalCounts::default(),
                    entitlements: Vec::new(),
                });
                sites.len() - 1
            }
        };
        sites[at].counts.add(days_left);
        sites[at].entitlements.push(entry);
    }
    (counts, sites)
}

/// The list a radar cursor belongs to: one per window length.
fn list_key(within_days: u32) -> String {
    format!("renewals?{within_days}")
}

/// What the caller can see that ends within the window.
///
/// Every entitlement the caller's view holds (as member, ship-to contact or reseller, by the
/// same rules as the entitlement lists) whose `ends_on` is from today to `within_days` days
/// ahead, soonest first (ties by serial), grouped per account site with counts at 30, 60 and
/// 90 days. The window is fixed by the first page: its cursor carries it.
#[utoipa::path(get, path = "/v1/renewals", tag = "view", operation_id = "list_renewals", params(RenewalsQuery),
    responses(
        (status = 200, description = "One page of the renewal radar", body = RenewalsPage, headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 400, description = "A bad `within_days`, `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn renewals(
    State(state): State<ViewState>,
    caller: Caller,
    headers: HeaderMap,
    super::list::ApiQuery(q): super::list::ApiQuery<RenewalsQuery>,
) -> Result<Response, ApiError> {
    let list = list_key(q.within_days.get());
    let today = Day::today();
    let resumed = match &q.cursor {
        Some(token) => {
            let raw = state.cursors.open(&token.0, &list, caller.email.as_str())?;
            Some(serde_json::from_str::<RadarPosition>(&raw).map_err(|_| ApiError::BadRequest(BAD_CURSOR.into()))?)
        }
        None => None,
    };
    let window = resumed.as_ref().map(|p| p.window).unwrap_or_else(|| RenewalWindow::days_from(today, q.within_days.get()));
    let after = resumed.as_ref().map(|p| p.after.as_str());
    if after.is_some_and(|a| crate::store::keys::parse_renewal_position(a).is_none()) {
        return Err(ApiError::BadRequest(BAD_CURSOR.into()));
    }
    let page = state.store.renewals(&caller.email, state.settings.rollout, window, after, q.limit.get(), today).await?;
    let (counts, sites) = group(&page.items, today);
    let next_cursor = page.next.and_then(|after| {
        let raw = serde_json::to_string(&RadarPosition { window, after }).ok()?;
        Some(state.cursors.seal(&list, caller.email.as_str(), &raw))
    });
    let answer = RenewalsPage {
        window: RenewalWindowView { from: window.from, until: window.until, within_days: q.within_days.get() },
        counts,
        sites,
        next_cursor,
    };
    Ok(super::etag::json(&headers, &answer))
}

/// Adds the radar's wire types to the OpenAPI document's schemas.
pub(crate) fn add_schemas(components: &mut utoipa::openapi::Components) {
    fn add<T: ToSchema>(components: &mut utoipa::openapi::Components) {
        let mut dependencies = Vec::new();
        T::schemas(&mut dependencies);
        components.schemas.extend(dependencies);
        components.schemas.insert(T::name().into_owned(), T::schema());
    }
    add::<RenewalsPage>(components);
    add::<RenewalWindowView>(components);
    add::<RenewalCounts>(components);
    add::<RenewalSite>(components);
    add::<RenewalEntitlement>(components);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;

    fn query(q: &str) -> Result<RenewalsQuery, String> {
        let uri: axum::http::Uri = format!("http://x/?{q}").parse().unwrap();
        Query::<RenewalsQuery>::try_from_uri(&uri).map(|Query(t)| t).map_err(|e| e.body_text())
    }

    #[test]
    fn within_days_is_1_to_365_and_90_by_default() {
        assert_eq!(query("").unwrap().within_days.get(), 90);
        assert_eq!(query("within_days=1").unwrap().within_days.get(), 1);
        assert_eq!(query("within_days=365").unwrap().within_days.get(), 365);
        for bad in ["within_days=0", "within_days=366", "within_days=-1", "within_days=1.5", "within_days=soon", "within_days="] {
            let err = query(bad).unwrap_err();
            assert!(err.contains("within_days must be a whole number from 1 to 365"), "{bad}: {err}");
        }
        assert!(query("limit=0").is_err());
    }

    #[test]
    fn a_page_is_grouped_per_site_in_order_of_its_soonest_entitlement_with_cumulative_counts() {
        use crate::domain::entitlement::{LineItem, VisibleEntitlement};
        let today = Day::parse("2027-01-01").unwrap();
        let renewal = |site: &str, serial: &str, ends_on: &str| {
            let raw = serde_json::json!({"serial": serial, "sku": "K", "product": "P", "quantity": 1,
                "starts_on": "2026-01-01", "ends_on": ends_on, "license_keys": []});
            let sid = SupportId::parse(site).unwrap();
            Renewal {
                site: crate::store::view::SiteRef { support_id: sid.clone(), name: format!("{site} Ltd") },
                entitlement: VisibleEntitlement {
                    line: LineItem {
                        order_id: crate::domain::OrderId::parse("O-1").unwrap(),
                        version: 1,
                        site: sid,
                        reseller: None,
                        line: serde_json::from_value(raw).unwrap(),
                    },
                    status: EntitlementStatus::Active,
                    access: vec![Access::Member],
                },
            }
        };
        let page = [
            renewal("B-1", "S1", "2027-01-01"),
            renewal("A-1", "S2", "2027-02-15"),
            renewal("B-1", "S3", "2027-03-20"),
            renewal("A-1", "S4", "2027-06-01"),
        ];
        let (counts, sites) = group(&page, today);
        assert_eq!(counts, RenewalCounts { within_30: 1, within_60: 2, within_90: 3, total: 4 });
        let order: Vec<(&str, Vec<&str>)> =
            sites.iter().map(|s| (s.support_id.as_str(), s.entitlements.iter().map(|e| e.serial.as_str()).collect())).collect();
        assert_eq!(order, [("B-1", vec!["S1", "S3"]), ("A-1", vec!["S2", "S4"])]);
        assert_eq!(sites[0].entitlements[0].days_left, 0);
        assert_eq!(sites[1].counts, RenewalCounts { within_30: 0, within_60: 1, within_90: 1, total: 2 });
    }
}
