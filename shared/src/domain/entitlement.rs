//! What a contact sees of an entitlement: the order head and line as stored, the
//! entitlement's status on a day, the list filters, and the shapes of a view's pages.
//! Pure data and decisions; the store reads and writes them.

use super::{Access, Day, Email, Line, OrderId, OrderStatus, SupportId};
use serde::{Deserialize, Serialize};

/// The order's current state, as readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderHead {
    pub order_id: OrderId,
    pub current_version: u64,
    pub digest: String,
    pub status: OrderStatus,
    pub ordered_at: String,
    pub end_customer: SupportId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller: Option<SupportId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<SupportId>,
    /// The ship-to contacts of the current version: the switch that replaces it takes their
    /// entitlements out of their ship-to reach (`CONTACT#{e}`/`SHIPTO#{s}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ship_to_contacts: Vec<Email>,
    /// Lines visible through this order now: the line count, or 0 when cancelled.
    pub entitlement_count: u64,
    pub updated_at: String,
}

impl OrderHead {
    pub fn is_active(&self) -> bool {
        self.status == OrderStatus::Active
    }
}

/// One entitlement line of one order version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub order_id: OrderId,
    pub version: u64,
    /// The owning (end-customer) site.
    pub site: SupportId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller: Option<SupportId>,
    #[serde(flatten)]
    pub line: Line,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewSite {
    pub support_id: SupportId,
    pub name: String,
    pub entitlement_count: u64,
    pub access: Vec<Access>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` at the end. A page may hold fewer than `limit`
    /// items (even none) while more follow: pages are cut by cost, not filled by looping.
    pub next: Option<C>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntitlementStatus {
    Active,
    Expired,
    Upcoming,
}

impl EntitlementStatus {
    pub fn on(today: Day, starts_on: Day, ends_on: Day) -> Self {
        if ends_on < today {
            EntitlementStatus::Expired
        } else if starts_on > today {
            EntitlementStatus::Upcoming
        } else {
            EntitlementStatus::Active
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "upcoming" => Some(Self::Upcoming),
            _ => None,
        }
    }
}

/// The filters of the entitlement list.
#[derive(Debug, Clone, Default)]
pub struct EntitlementFilter {
    pub status: Option<EntitlementStatus>,
    pub ends_before: Option<Day>,
    /// Lower-cased; matches serial, SKU or product.
    pub text: Option<String>,
}

impl EntitlementFilter {
    pub fn keeps(&self, e: &VisibleEntitlement) -> bool {
        self.status.is_none_or(|s| s == e.status)
            && self.ends_before.is_none_or(|d| e.line.line.ends_on < d)
            && self.text.as_deref().is_none_or(|q| {
                let l = &e.line.line;
                l.serial.as_str().to_lowercase().contains(q) || l.sku.to_lowercase().contains(q) || l.product.to_lowercase().contains(q)
            })
    }
}

/// An entitlement the caller may see, with the rules that let them.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleEntitlement {
    pub line: LineItem,
    pub status: EntitlementStatus,
    pub access: Vec<Access>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteRef {
    pub support_id: SupportId,
    pub name: String,
}
