//! The store side of domain rules (issue 21 part 2): a site's rule "verified e-mail at
//! `{domain}` is approved as `user`" is one item `SITE#{s}`/`DOMAIN_RULE#{domain}`. The rules
//! that decide are `crate::access::domain_rules`; the writes are [`super::access::Write`]
//! variants committed by the workflow's one transaction loop.
//!
//! Reads: a join request reads the one rule its caller's domain could match by key (a
//! GetItem in the request's first round, consistent); the site's list is one consistent
//! Query of its partition range.

use super::keys::{self, Item};
use super::{from_item, get_s, to_item, Store, StoreError};
use crate::domain::access::Stamp;
use crate::domain::{Role, SupportId};
use serde::{Deserialize, Serialize};

/// One domain rule of a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainRule {
    pub support_id: SupportId,
    /// The domain, lower-case, without `@` (matched exactly: no subdomains).
    pub domain: String,
    /// The role a matching request is approved as (always `user`).
    pub role: Role,
    /// Who added it (an admin's e-mail, or a Care agent's).
    pub added_by: String,
    pub added_at: Stamp,
}

impl DomainRule {
    pub fn key(&self) -> keys::Key {
        keys::site_domain_rule(&self.support_id, &self.domain)
    }
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(self.key().to_item());
        Ok(item)
    }
}

impl Store {
    /// The site's rule for exactly this domain, read consistently.
    pub async fn domain_rule(&self, site: &SupportId, domain: &str) -> Result<Option<DomainRule>, StoreError> {
        match self.get("GetItem domain rule", &keys::site_domain_rule(site, domain), true).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Every rule of a site, by domain: one consistent Query (a site has at most
    /// `DomainRuleLimits::max_per_site` rules, so one page holds them).
    pub async fn domain_rules(&self, site: &SupportId) -> Result<Vec<DomainRule>, StoreError> {
        let items = self.all_items("Query domain rules", &keys::site_pk(site), Some(keys::DOMAIN_RULE_PREFIX)).await?;
        items.into_iter().filter(|i| get_s(i, "domain").is_some()).map(from_item).collect()
    }
}
