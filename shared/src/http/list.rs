//! Lists: the typed query parameters (`limit`, `cursor`, the entitlement filters), the one
//! extractor that turns any query error into a 400 problem, and `Cursor<T>`: a position of
//! type `T` sealed (by `CursorKey`) for one caller and one list, named by `ListId`.

use super::cursor::CursorKey;
use super::problem::ApiError;
use crate::domain::{Day, Email, SupportId};
use crate::store::view::{EntitlementFilter, EntitlementStatus};
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use utoipa::IntoParams;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;
/// The longest `q` a list accepts.
pub const MAX_QUERY_TEXT: usize = 200;

const BAD_CURSOR: &str = "cursor is malformed or does not belong to this list";

/// A typed query string: any parameter that does not parse is a 400 problem.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|rejection| ApiError::BadRequest(sentence(&rejection.body_text())))
    }
}

/// A query rejection as a sentence a person can read: axum's "Failed to deserialize query
/// string: " and serde's "field: " prefixes go, the first letter is capitalised, a full stop
/// ends it. Our own messages already name their parameter ("limit must be …").
fn sentence(rejection: &str) -> String {
    let text = rejection.strip_prefix("Failed to deserialize query string: ").unwrap_or(rejection).trim();
    let text = match text.split_once(": ") {
        Some((field, rest)) if rest.starts_with(field) => rest,
        _ => text,
    };
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// `status`: one of the entitlement states, refused with a sentence that lists them.
fn status_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<EntitlementStatus>, D::Error> {
    let raw = String::deserialize(d)?;
    EntitlementStatus::parse(&raw)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("status must be active, expired or upcoming, got {raw:?}")))
}

/// `limit`: a whole number from 1 to 500; 100 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Limit {
        Limit(DEFAULT_LIMIT)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number from 1 to {MAX_LIMIT}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Limit, E> {
                usize::try_from(n)
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .map(Limit)
                    .ok_or_else(|| E::custom(format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {n}")))
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<Limit, E> {
                raw.parse::<u64>()
                    .map_err(|_| E::custom(format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}")))
                    .and_then(|n| self.visit_u64(n))
            }
        }
        d.deserialize_any(V)
    }
}

/// A cursor as it arrives: a non-empty opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorToken(String);

impl<'de> Deserialize<'de> for CursorToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CursorToken, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.is_empty() {
            return Err(serde::de::Error::custom(BAD_CURSOR));
        }
        Ok(CursorToken(raw))
    }
}

/// `limit` and `cursor`, the parameters of every list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size: 1-500, default 100. Anything else is 400. A page may hold fewer (even none) while `next_cursor` is not null.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 100)]
    #[serde(default)]
    pub limit: Limit,
    /// The `next_cursor` of the previous page of the same list, for the same caller. Opaque; a malformed or foreign cursor is 400.
    #[param(value_type = Option<String>, min_length = 1)]
    #[serde(default)]
    pub cursor: Option<CursorToken>,
}

/// The entitlement list's parameters: the page and its filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntitlementQuery {
    /// Page size: 1-500, default 100. Anything else is 400.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 100)]
    #[serde(default)]
    pub limit: Limit,
    /// The `next_cursor` of the previous page of the same list, with the same filters. Opaque; a malformed or foreign cursor is 400.
    #[param(value_type = Option<String>, min_length = 1)]
    #[serde(default)]
    pub cursor: Option<CursorToken>,
    /// Only entitlements in this state (UTC days).
    #[param(value_type = Option<EntitlementStatus>)]
    #[serde(default, deserialize_with = "status_filter")]
    pub status: Option<EntitlementStatus>,
    /// Only entitlements whose `ends_on` is before this date (renewal work).
    #[param(value_type = Option<String>, format = Date)]
    #[serde(default)]
    pub ends_before: Option<Day>,
    /// Case-insensitive substring of the serial, SKU or product name (at most 200 characters; blank means no filter).
    #[param(max_length = 200)]
    #[serde(default)]
    pub q: Option<String>,
}

impl EntitlementQuery {
    pub fn page(&self) -> ListQuery {
        ListQuery { limit: self.limit, cursor: self.cursor.clone() }
    }

    pub fn filter(&self) -> Result<EntitlementFilter, ApiError> {
        let text = self.q.as_deref().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
        if text.as_ref().is_some_and(|t| t.chars().count() > MAX_QUERY_TEXT) {
            return Err(ApiError::BadRequest(format!("q must be at most {MAX_QUERY_TEXT} characters")));
        }
        Ok(EntitlementFilter { status: self.status, ends_before: self.ends_before, text })
    }
}

/// Which list a cursor belongs to: a cursor opens only for the list (and filters) that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListId {
    /// `GET /v1/view`
    View,
    /// `GET /v1/view/sites/{s}/entitlements` with its filters.
    SiteEntitlements { site: SupportId, status: Option<EntitlementStatus>, ends_before: Option<Day>, text: Option<String> },
    /// `GET /v1/sites`
    Sites,
    /// `GET /v1/sites/{s}/members`
    Members(SupportId),
    /// `GET /v1/sites/{s}/history`
    History(SupportId),
    /// `GET /v1/access-requests`
    Requests,
    /// `GET /v1/approvals`
    Approvals,
    /// `GET /v1/rollout`
    Rollout,
    /// `GET /v1/sites/{s}/claims`
    Claims(SupportId),
    /// `GET /v1/sites/{s}/invitations`
    Invitations(SupportId),
}

impl ListId {
    /// The list's stable name inside a sealed cursor.
    pub fn key(&self) -> String {
        match self {
            ListId::View => "view".into(),
            ListId::SiteEntitlements { site, status, ends_before, text } => {
                let status = status.and_then(|s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)));
                // JSON keeps every filter value unambiguous, whatever characters `q` holds.
                let filters = serde_json::json!([status, ends_before.map(|d| d.to_string()), text]);
                format!("site:{site}?{filters}")
            }
            ListId::Sites => "sites".into(),
            ListId::Members(site) => format!("members:{site}"),
            ListId::History(site) => format!("history:{site}"),
            ListId::Requests => "requests".into(),
            ListId::Approvals => "approvals".into(),
            ListId::Rollout => "rollout".into(),
            ListId::Claims(site) => format!("claims:{site}"),
            ListId::Invitations(site) => format!("invitations:{site}"),
        }
    }

    pub fn site_entitlements(site: &SupportId, filter: &EntitlementFilter) -> ListId {
        ListId::SiteEntitlements { site: site.clone(), status: filter.status, ends_before: filter.ends_before, text: filter.text.clone() }
    }
}

/// A list position of type `T`, sealed for one caller and one list.
pub struct Cursor<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned> Cursor<T> {
    /// The position `token` holds, or `None` for the first page. A token this key did not
    /// seal for this caller and list, or holding another type, is a 400.
    pub fn open(key: &CursorKey, token: Option<&CursorToken>, list: &ListId, caller: &Email) -> Result<Option<T>, ApiError> {
        let Some(CursorToken(token)) = token else { return Ok(None) };
        let raw = key.open(token, &list.key(), caller.as_str())?;
        serde_json::from_str(&raw).map(Some).map_err(|_| ApiError::BadRequest(BAD_CURSOR.into()))
    }

    /// The `next_cursor` for a position (`None` at the end of the list).
    pub fn seal(key: &CursorKey, position: Option<&T>, list: &ListId, caller: &Email) -> Option<String> {
        let raw = serde_json::to_string(position?).ok()?;
        Some(key.seal(&list.key(), caller.as_str(), &raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<T: DeserializeOwned>(q: &str) -> Result<T, String> {
        let uri: axum::http::Uri = format!("http://x/?{q}").parse().unwrap();
        Query::<T>::try_from_uri(&uri).map(|Query(t)| t).map_err(|e| e.body_text())
    }

    #[test]
    fn limit_is_1_to_500_and_100_by_default() {
        assert_eq!(query::<ListQuery>("").unwrap().limit.get(), 100);
        assert_eq!(query::<ListQuery>("limit=1").unwrap().limit.get(), 1);
        assert_eq!(query::<ListQuery>("limit=500").unwrap().limit.get(), 500);
        for bad in ["limit=0", "limit=501", "limit=-1", "limit=1.5", "limit=abc", "limit=", "limit=99999999999999999999"] {
            let err = query::<ListQuery>(bad).unwrap_err();
            assert!(err.contains("limit must be a whole number from 1 to 500"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_empty_cursor_is_refused_and_filters_parse() {
        assert!(query::<ListQuery>("cursor=").is_err());
        let q = query::<EntitlementQuery>("status=expired&ends_before=2027-01-01&q=%20Endpoint%20").unwrap();
        let f = q.filter().unwrap();
        assert_eq!(f.status, Some(EntitlementStatus::Expired));
        assert_eq!(f.ends_before.map(|d| d.to_string()).as_deref(), Some("2027-01-01"));
        assert_eq!(f.text.as_deref(), Some("endpoint"));
        let refused = query::<EntitlementQuery>("status=soon").unwrap_err();
        assert_eq!(sentence(&refused), "Status must be active, expired or upcoming, got \"soon\".");
        assert_eq!(sentence(&query::<ListQuery>("limit=0").unwrap_err()), "Limit must be a whole number from 1 to 500, got 0.");
        assert!(query::<EntitlementQuery>("ends_before=2027-13-01").is_err());
        assert!(query::<EntitlementQuery>(&format!("q={}", "x".repeat(201))).unwrap().filter().is_err());
    }

    #[test]
    fn cursors_open_only_for_their_list_caller_and_type() {
        let key = CursorKey::new("k");
        let mary = Email::parse("mary@skynet.example").unwrap();
        let bill = Email::parse("bill@acme.example").unwrap();
        let site = SupportId::parse("ACME-1").unwrap();
        let all = ListId::site_entitlements(&site, &EntitlementFilter::default());
        let active = ListId::site_entitlements(&site, &EntitlementFilter { status: Some(EntitlementStatus::Active), ..Default::default() });
        let token = CursorToken(Cursor::<String>::seal(&key, Some(&"S2".to_string()), &all, &mary).unwrap());
        assert_eq!(Cursor::<String>::open(&key, Some(&token), &all, &mary).unwrap().as_deref(), Some("S2"));
        assert!(Cursor::<String>::open(&key, Some(&token), &active, &mary).is_err());
        assert!(Cursor::<String>::open(&key, Some(&token), &all, &bill).is_err());
        assert!(Cursor::<String>::open(&key, Some(&token), &ListId::View, &mary).is_err());
        assert!(Cursor::<u64>::open(&key, Some(&token), &all, &mary).is_err(), "a position of another type");
        assert_eq!(Cursor::<String>::open(&key, None, &all, &mary).unwrap(), None);
        assert_eq!(Cursor::<String>::seal(&key, None, &all, &mary), None);
    }

    #[test]
    fn every_list_has_its_own_name() {
        let s = SupportId::parse("A").unwrap();
        let lists = [
            ListId::View,
            ListId::site_entitlements(&s, &EntitlementFilter::default()),
            ListId::Sites,
            ListId::Members(s.clone()),
            ListId::History(s.clone()),
            ListId::Requests,
            ListId::Approvals,
        ];
        let names: std::collections::BTreeSet<String> = lists.iter().map(ListId::key).collect();
        assert_eq!(names.len(), lists.len());
    }
}
