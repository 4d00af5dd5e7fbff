//! The rules of domain rules (issue 21 part 2), as pure functions: what a domain is, which
//! ones may never be a rule (public mail providers, a list the operator keeps), which rule a
//! request matches, and the plans that add, remove and apply a rule. No I/O;
//! `super::domains` reads and commits.
//!
//! Matching is exact and case-insensitive on the part of the requester's verified e-mail
//! after `@`: a rule for `acme.example` matches `ann@acme.example` and `ANN@Acme.Example`,
//! never `ann@eu.acme.example` nor `ann@acme.example.evil`. Subdomains need their own rule:
//! a subdomain may be run by someone else (a hosting customer, an acquired company, a
//! marketing agency), so an admin says each one they vouch for.

use super::claim_rules::NOTICE_SCHEMA;
use super::rules::Plan;
use super::{AccessError, Actor};
use crate::domain::access::{HistoryAction, RequestId, RequestKind, RequestStatus, Stamp};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{AccessRequest, HistoryEntry, SiteMeta, Write};
use crate::store::access_rules::DomainRule;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The public mail providers no rule may name, unless the operator sets
/// `ABEV_PUBLIC_MAIL_DOMAINS` (a comma-separated list that replaces this one).
pub const DEFAULT_PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "tuta.io",
];

/// The bounds on domain rules.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRuleLimits {
    /// Domains no rule may name (lower-case); their subdomains neither.
    pub public_domains: Vec<String>,
    /// Rules one site may have.
    pub max_per_site: usize,
}

impl Default for DomainRuleLimits {
    fn default() -> Self {
        DomainRuleLimits { public_domains: DEFAULT_PUBLIC_MAIL_DOMAINS.iter().map(|d| d.to_string()).collect(), max_per_site: 20 }
    }
}

impl DomainRuleLimits {
    /// The operator's list (`ABEV_PUBLIC_MAIL_DOMAINS`, comma-separated), else the default.
    pub fn with_public_domains(raw: Option<&str>) -> DomainRuleLimits {
        let mut limits = DomainRuleLimits::default();
        if let Some(raw) = raw.filter(|r| !r.trim().is_empty()) {
            limits.public_domains = raw.split(',').filter_map(|d| parse_domain(d).ok()).collect();
        }
        limits
    }

    /// Is `domain` (parsed) a public mail provider's, or one of its subdomains?
    pub fn is_public(&self, domain: &str) -> bool {
        self.public_domains.iter().any(|p| domain == p || domain.strip_suffix(p.as_str()).is_some_and(|rest| rest.ends_with('.')))
    }
}

/// A domain as a rule names it: trimmed, one leading `@` allowed, lower-case; labels of
/// letters, digits and inner hyphens, at least two labels, at most 253 characters.
pub fn parse_domain(raw: &str) -> Result<String, AccessError> {
    let domain = raw.trim();
    let domain = domain.strip_prefix('@').unwrap_or(domain).to_ascii_lowercase();
    let bad = || AccessError::BadInput(format!("{raw:?} is not a mail domain (like acme.example)"));
    if domain.is_empty() || domain.len() > 253 {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(bad());
    }
    Ok(domain)
}

/// The domain of an e-mail address (the part after the last `@`, lower-case as stored).
pub fn domain_of(email: &Email) -> &str {
    email.as_str().rsplit_once('@').map_or("", |(_, d)| d)
}

/// Does `rule` match a request by `email`? Exactly its domain (no subdomains).
pub fn matches(rule: &DomainRule, email: &Email) -> bool {
    rule.domain == domain_of(email)
}

/// What adding a rule read.
#[derive(Debug, Clone, Default)]
pub struct RulesSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    pub rules: Vec<DomainRule>,
}

/// What adding a rule answers: new (201), or the same rule already there (200).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleAdded {
    New(DomainRule),
    Existing(DomainRule),
}

/// `POST /v1/sites/{s}/domain-rules {domain, role}`: site admins and Care.
pub fn plan_add_rule(
    snap: RulesSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    raw_domain: &str,
    role: Role,
    limits: &DomainRuleLimits,
    now: OffsetDateTime,
) -> Result<Plan<RuleAdded>, AccessError> {
    super::rules::may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let domain = parse_domain(raw_domain)?;
    if role != Role::User {
        return Err(AccessError::BadInput("a domain rule approves as `user` only; administrators are approved by a person".into()));
    }
    if limits.is_public(&domain) {
        return Err(AccessError::BadInput(format!(
            "{domain} is a public mail provider's domain: anyone can have an address there, so no rule may name it"
        )));
    }
    if let Some(existing) = snap.rules.iter().find(|r| r.domain == domain) {
        return Ok(Plan::answer(RuleAdded::Existing(existing.clone())));
    }
    if snap.rules.len() >= limits.max_per_site {
        return Err(AccessError::Conflict(format!("{site_id} has {} domain rules, the most allowed", limits.max_per_site)));
    }
    let at = Stamp::of(now);
    let rule =
        DomainRule { support_id: site_id.clone(), domain: domain.clone(), role, added_by: actor.email.to_string(), added_at: at.clone() };
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::DomainRuleAdded);
    entry.role = Some(role);
    entry.reason = Some(format!("verified e-mail at @{domain} is approved as {role}"));
    let mut writes = vec![Write::DomainRule(rule.clone()), Write::History(entry)];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: RuleAdded::New(rule) })
}

/// `DELETE /v1/sites/{s}/domain-rules/{domain}`: site admins and Care; the removed rule.
pub fn plan_remove_rule(
    snap: RulesSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    raw_domain: &str,
    now: OffsetDateTime,
) -> Result<Plan<DomainRule>, AccessError> {
    super::rules::may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let not_found = || AccessError::NotFound(format!("{site_id} has no domain rule for {raw_domain}"));
    let domain = parse_domain(raw_domain).map_err(|_| not_found())?;
    let Some(rule) = snap.rules.into_iter().find(|r| r.domain == domain) else { return Err(not_found()) };
    let at = Stamp::of(now);
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::DomainRuleRemoved);
    entry.role = Some(rule.role);
    entry.reason = Some(format!("@{domain}"));
    let mut writes = vec![Write::RemoveDomainRule { site: site_id.clone(), domain }, Write::History(entry)];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: rule })
}

/// The Care message when a rule approved someone at a site with no admin to tell
/// (`abev.care-notice.v1`, kind `domain_rule`: nothing to decide).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleNotice {
    pub schema: String,
    pub notice_id: String,
    /// `domain_rule`.
    pub kind: String,
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    pub domain: String,
    pub request_id: RequestId,
    pub at: Stamp,
}

/// The body of the Care notice among a plan's writes, if it has one.
pub fn notice_body(writes: &[Write]) -> Option<String> {
    writes.iter().find_map(|w| match w {
        Write::Notice { body, .. } => Some(body.clone()),
        _ => None,
    })
}

/// The actor a rule's decision is recorded under: `rule:{domain}`.
pub fn rule_actor(domain: &str) -> String {
    format!("rule:{domain}")
}

/// Does a rule decide this request? A join (not yet a member) asking for the rule's role,
/// by a caller whose e-mail the token says is verified, at the rule's exact domain.
pub fn decides(rule: Option<&DomainRule>, actor: &Actor, email_verified: bool, current: Option<Role>, role: Role) -> bool {
    email_verified && current.is_none() && rule.is_some_and(|r| r.role == role && matches(r, &actor.email))
}

/// A join request approved at once by `rule`, in the transaction discipline of an admin's
/// approval: the request is written `approved` (it must not exist), no open request of the
/// caller for the site may exist (`OPEN#` absent: one open request per contact and site),
/// the membership must be absent as read, the rule must still exist, no rejection's
/// cool-down may hold; the history says `request_created` then `approved_by_rule`. The
/// admins are told by that history (the admin count is checked as read); a site without
/// admins has Care told instead (a notice through the outbox).
#[allow(clippy::too_many_arguments)]
pub fn plan_approve_by_rule(
    meta: &SiteMeta,
    rule: &DomainRule,
    actor: &Actor,
    role: Role,
    now: OffsetDateTime,
    id: RequestId,
    notice_id: &str,
) -> Result<Plan<AccessRequest>, AccessError> {
    let at = Stamp::of(now);
    let site_id = &meta.support_id;
    let decided_by_rule = format!("decided by rule @{}", rule.domain);
    let request = AccessRequest {
        request_id: id,
        support_id: site_id.clone(),
        site_name: meta.name.clone(),
        requester_email: actor.email.clone(),
        kind: RequestKind::Join,
        requested_role: role,
        status: RequestStatus::Approved,
        created_at: at.clone(),
        decided_by: None,
        decided_at: Some(at.clone()),
        reason: Some(decided_by_rule.clone()),
        granted_role: Some(rule.role),
        escalated_at: None,
        escalation_reason: None,
    };
    let mut created = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::RequestCreated);
    created.request_id = Some(request.request_id.clone());
    created.subject = Some(actor.email.clone());
    created.role = Some(role);
    let mut approved = HistoryEntry::new(site_id, &at, 1, &rule_actor(&rule.domain), HistoryAction::ApprovedByRule);
    approved.request_id = Some(request.request_id.clone());
    approved.subject = Some(actor.email.clone());
    approved.role = Some(rule.role);
    approved.reason = Some(decided_by_rule);
    let mut writes = vec![
        Write::Request { request: request.clone(), expected: None },
        Write::Absent(request.open_marker()),
        Write::SetMembership {
            email: actor.email.clone(),
            site: site_id.clone(),
            role: rule.role,
            previous: None,
            at: at.clone(),
            resells: meta.resells,
            ends_at: None,
        },
        Write::DomainRuleIs { site: site_id.clone(), domain: rule.domain.clone() },
        Write::NoCooldown { email: actor.email.clone(), site: site_id.clone(), now: at.clone() },
        Write::History(created),
        Write::History(approved),
    ];
    if meta.admin_count > 0 {
        writes.push(Write::AdminCountIs { site: site_id.clone(), seen: meta.admin_count });
    } else {
        let notice = RuleNotice {
            schema: NOTICE_SCHEMA.into(),
            notice_id: notice_id.to_string(),
            kind: "domain_rule".into(),
            support_id: site_id.clone(),
            site_name: meta.name.clone(),
            email: actor.email.clone(),
            domain: rule.domain.clone(),
            request_id: request.request_id.clone(),
            at: at.clone(),
        };
        let body = serde_json::to_string(&notice).map_err(|e| AccessError::Invalid(e.to_string()))?;
        writes.push(Write::Notice { id: notice_id.to_string(), at: at.clone(), body });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: request })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_fixtures::{acme as site, actor, t0};

    fn rule(domain: &str) -> DomainRule {
        DomainRule {
            support_id: SupportId::parse("ACME-1").unwrap(),
            domain: domain.into(),
            role: Role::User,
            added_by: "bill@acme.example".into(),
            added_at: Stamp::of(t0()),
        }
    }
    fn snap(admin: bool, rules: Vec<DomainRule>) -> RulesSnapshot {
        RulesSnapshot { site: Some(site(1)), actor_role: admin.then_some(Role::Admin), rules }
    }

    #[test]
    fn domains_parse_to_one_lower_case_spelling() {
        assert_eq!(parse_domain(" @Acme.Example ").unwrap(), "acme.example");
        assert_eq!(parse_domain("eu.acme-corp.example").unwrap(), "eu.acme-corp.example");
        for bad in
            ["", "@", "acme", "acme..example", "-acme.example", "acme-.example", "ac me.example", "ann@acme.example", "acme.example."]
        {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rule_matches_its_exact_domain_case_insensitively_and_no_subdomain() {
        let r = rule("acme.example");
        assert!(matches(&r, &Email::parse("ANN@Acme.Example").unwrap()));
        assert!(!matches(&r, &Email::parse("ann@eu.acme.example").unwrap()), "subdomains need their own rule");
        assert!(!matches(&r, &Email::parse("ann@acme.example.evil").unwrap()));
        assert!(!matches(&r, &Email::parse("ann@notacme.example").unwrap()));
    }

    #[test]
    fn only_a_verified_join_for_the_rules_role_is_decided_by_it() {
        let r = rule("acme.example");
        let ann = actor("ann@acme.example", false);
        assert!(decides(Some(&r), &ann, true, None, Role::User));
        assert!(!decides(Some(&r), &ann, false, None, Role::User), "an unverified address is asked about");
        assert!(!decides(Some(&r), &ann, true, None, Role::Admin), "admin is decided by a person");
        assert!(!decides(Some(&r), &ann, true, Some(Role::User), Role::Admin), "a role change is not a join");
        assert!(!decides(None, &ann, true, None, Role::User));
        assert!(!decides(Some(&r), &actor("ann@eu.acme.example", false), true, None, Role::User));
    }

    #[test]
    fn public_mail_providers_and_their_subdomains_are_never_a_rule() {
        let limits = DomainRuleLimits::default();
        for public in ["gmail.com", "GMAIL.com", "@outlook.com", "mx.gmail.com"] {
            let err = plan_add_rule(
                snap(true, vec![]),
                &actor("bill@acme.example", false),
                &site(1).support_id,
                public,
                Role::User,
                &limits,
                t0(),
            );
            assert!(matches!(err, Err(AccessError::BadInput(_))), "{public}");
        }
        assert!(!limits.is_public("notgmail.com"));
        // The operator's own list replaces the default.
        let own = DomainRuleLimits::with_public_domains(Some("corp-mail.example, Other.example"));
        assert!(own.is_public("corp-mail.example") && own.is_public("other.example") && !own.is_public("gmail.com"));
        assert_eq!(DomainRuleLimits::with_public_domains(Some("  ")), limits);
    }

    #[test]
    fn only_site_admins_and_care_add_rules_and_only_as_user() {
        let limits = DomainRuleLimits::default();
        let id = site(1).support_id;
        let stranger =
            plan_add_rule(snap(false, vec![]), &actor("zed@acme.example", false), &id, "acme.example", Role::User, &limits, t0());
        assert!(matches!(stranger, Err(AccessError::NotYourSite(_))));
        let admin_role =
            plan_add_rule(snap(true, vec![]), &actor("bill@acme.example", false), &id, "acme.example", Role::Admin, &limits, t0());
        assert!(matches!(admin_role, Err(AccessError::BadInput(_))));
        let care =
            plan_add_rule(snap(false, vec![]), &actor("carla@care.example", true), &id, "Acme.Example", Role::User, &limits, t0()).unwrap();
        let RuleAdded::New(added) = &care.outcome else { panic!("new") };
        assert_eq!(added.domain, "acme.example");
        assert!(!care.writes.iter().any(|w| matches!(w, Write::MembershipIs { .. })), "Care acts by its group");
        let admin =
            plan_add_rule(snap(true, vec![]), &actor("bill@acme.example", false), &id, "acme.example", Role::User, &limits, t0()).unwrap();
        assert!(admin.writes.iter().any(|w| matches!(w, Write::MembershipIs { role: Some(Role::Admin), .. })), "re-checked at commit");
        assert!(admin.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::DomainRuleAdded)));
        // The same rule again: answered as it is, nothing written.
        let again = plan_add_rule(
            snap(true, vec![rule("acme.example")]),
            &actor("bill@acme.example", false),
            &id,
            "ACME.example",
            Role::User,
            &limits,
            t0(),
        )
        .unwrap();
        assert!(again.writes.is_empty() && matches!(again.outcome, RuleAdded::Existing(_)));
        let full: Vec<DomainRule> = (0..limits.max_per_site).map(|i| rule(&format!("d{i}.example"))).collect();
        let over = plan_add_rule(snap(true, full), &actor("bill@acme.example", false), &id, "acme.example", Role::User, &limits, t0());
        assert!(matches!(over, Err(AccessError::Conflict(_))));
    }

    #[test]
    fn removing_a_rule_needs_it_to_exist() {
        let id = site(1).support_id;
        let gone = plan_remove_rule(snap(true, vec![]), &actor("bill@acme.example", false), &id, "acme.example", t0());
        assert!(matches!(gone, Err(AccessError::NotFound(_))));
        let removed =
            plan_remove_rule(snap(false, vec![rule("acme.example")]), &actor("carla@care.example", true), &id, "@ACME.example", t0())
                .unwrap();
        assert_eq!(removed.outcome.domain, "acme.example");
        assert!(removed.writes.iter().any(|w| matches!(w, Write::RemoveDomainRule { domain, .. } if domain == "acme.example")));
    }

    #[test]
    fn an_approval_by_rule_is_one_transaction_like_an_admins_and_tells_the_admins_or_care() {
        let r = rule("acme.example");
        let ann = actor("ann@acme.example", false);
        let with_admin = plan_approve_by_rule(&site(2), &r, &ann, Role::User, t0(), RequestId::new(), "n1").unwrap();
        let req = &with_admin.outcome;
        assert_eq!((req.status, req.granted_role, req.decided_by.as_ref()), (RequestStatus::Approved, Some(Role::User), None));
        assert_eq!(req.reason.as_deref(), Some("decided by rule @acme.example"));
        let w = &with_admin.writes;
        assert!(w.iter().any(|w| matches!(w, Write::Request { expected: None, .. })));
        assert!(w.iter().any(|w| matches!(w, Write::Absent(k) if *k == req.open_marker())), "one open request per contact and site");
        assert!(w.iter().any(|w| matches!(w, Write::SetMembership { previous: None, role: Role::User, .. })));
        assert!(
            w.iter().any(|w| matches!(w, Write::DomainRuleIs { domain, .. } if domain == "acme.example")),
            "a rule removed meanwhile decides nothing"
        );
        assert!(w.iter().any(|w| matches!(w, Write::NoCooldown { .. })));
        assert!(w
            .iter()
            .any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::ApprovedByRule && h.actor == "rule:acme.example")));
        assert!(w.iter().any(|w| matches!(w, Write::AdminCountIs { seen: 2, .. })));
        assert!(!w.iter().any(|w| matches!(w, Write::Notice { .. } | Write::CountOpenRequest { .. })));
        let no_admin = plan_approve_by_rule(&site(0), &r, &ann, Role::User, t0(), RequestId::new(), "n1").unwrap();
        let body = no_admin.writes.iter().find_map(|w| match w {
            Write::Notice { id, body, .. } if id == "n1" => Some(body.clone()),
            _ => None,
        });
        let notice: serde_json::Value = serde_json::from_str(&body.expect("Care is told")).unwrap();
        assert_eq!(
            (notice["schema"].as_str(), notice["kind"].as_str(), notice["domain"].as_str()),
            (Some(NOTICE_SCHEMA), Some("domain_rule"), Some("acme.example"))
        );
    }
}
