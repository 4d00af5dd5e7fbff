//! Domain rules (issue 21 part 2): a site's admins (or Care) add, list and remove rules
//! "verified e-mail at `@{domain}` is approved as `user`". Each operation reads a snapshot,
//! plans with [`super::domain_rules`] and commits through [`super::run`]; the request a rule
//! decides is created in [`super::create_request_as`].
//!
//! Guarantees: adding conditions the rule item on not existing (two concurrent adds of one
//! domain give one rule, the other answers it as existing) and, for an admin, on their
//! membership still being `admin`; a request approved by a rule commits only while the rule
//! exists (a removal that commits first makes the request re-read and be routed to a person).

use super::domain_rules::{self, RuleAdded, RulesSnapshot};
use super::{acting_role_of, run, AccessError, Actor, Workflow};
use crate::domain::{Role, SupportId};
use crate::store::access_rules::DomainRule;
use time::OffsetDateTime;

async fn snapshot(wf: &Workflow, actor: &Actor, site: &SupportId) -> Result<RulesSnapshot, AccessError> {
    let store = &wf.store;
    let (meta, actor_role, rules) =
        futures::try_join!(store.site_meta(site), acting_role_of(store, actor, site), store.domain_rules(site))?;
    Ok(RulesSnapshot { site: meta, actor_role, rules })
}

/// `POST /v1/sites/{s}/domain-rules`.
pub async fn add_rule(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    domain: &str,
    role: Role,
    now: OffsetDateTime,
) -> Result<RuleAdded, AccessError> {
    let limits = &wf.limits.domain_rules;
    let added = run(
        wf,
        "TransactWriteItems add domain rule",
        now,
        || snapshot(wf, actor, site),
        |snap| domain_rules::plan_add_rule(snap, actor, site, domain, role, limits, now),
    )
    .await?;
    if let RuleAdded::New(rule) = &added {
        tracing::info!(site = %site, domain = %rule.domain, by = %actor.email, "domain rule added");
    }
    Ok(added)
}

/// `DELETE /v1/sites/{s}/domain-rules/{domain}`.
pub async fn remove_rule(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    domain: &str,
    now: OffsetDateTime,
) -> Result<DomainRule, AccessError> {
    let removed = run(
        wf,
        "TransactWriteItems remove domain rule",
        now,
        || snapshot(wf, actor, site),
        |snap| domain_rules::plan_remove_rule(snap, actor, site, domain, now),
    )
    .await?;
    tracing::info!(site = %site, domain = %removed.domain, by = %actor.email, "domain rule removed");
    Ok(removed)
}

/// `GET /v1/sites/{s}/domain-rules`: one round (the caller's right, the site and its rules
/// read together; the rules are answered only to a manager of the site).
pub async fn list_rules(wf: &Workflow, actor: &Actor, site: &SupportId) -> Result<Vec<DomainRule>, AccessError> {
    let snap = snapshot(wf, actor, site).await?;
    super::rules::may_manage(site, snap.site, actor, snap.actor_role)?;
    Ok(snap.rules)
}
