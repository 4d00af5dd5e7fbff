//! The digest e-mail, pure: one message per contact and visit — first the contact's own
//! memberships that end soon (issue 21's access notice), then the lines' notices grouped by
//! threshold (7, 30, 90 days), each line with its site, product, serial and end day — a link
//! to the radar and the signed unsubscribe link. Plain text: it reads the same in every
//! client, and no licence key is ever in it.

use super::plan::{AccessDue, Due, ACCESS_NOTICE, THRESHOLDS};
use crate::domain::Email;
use crate::store::view::Renewal;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A message ready for the mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    /// The unsubscribe link (also sent as the `List-Unsubscribe` header).
    pub unsubscribe_url: String,
    /// The digest's id (claims name it; a header carries it so copies can be recognised).
    pub digest_id: String,
}

/// Where the links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The page's base URL (`ABEV_WEB_URL`); the radar is `{web}/#/renewals`.
    pub web_url: String,
    /// The API's base URL (`ABEV_API_URL`); the unsubscribe link is under it.
    pub api_url: String,
}

pub const UNSUBSCRIBE_PATH: &str = "/v1/notices/unsubscribe";

impl Links {
    pub fn radar(&self) -> String {
        format!("{}/#/renewals", self.web_url.trim_end_matches('/'))
    }
    /// Site Management, where a member sees their sites and asks for access.
    pub fn manage(&self) -> String {
        format!("{}/#/manage", self.web_url.trim_end_matches('/'))
    }
    pub fn unsubscribe(&self, token: &str) -> String {
        format!("{}{UNSUBSCRIBE_PATH}?token={token}", self.api_url.trim_end_matches('/'))
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What one digest tells: `due` (entries of `lines`), and `access`, the contact's own
/// memberships that end (`sites`: Support ID → name, where known).
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    pub due: &'a [Due],
    pub lines: &'a [Renewal],
    pub access: &'a [AccessDue],
    pub sites: &'a BTreeMap<String, String>,
}

fn in_days(days_left: i64) -> String {
    match days_left {
        0 => "today".to_string(),
        1 => "in 1 day".to_string(),
        n => format!("in {n} days"),
    }
}

/// A stored stamp as people read it: `2027-01-08 09:30 UTC`.
fn readable(stamp: &str) -> String {
    match (stamp.get(..10), stamp.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => stamp.to_string(),
    }
}

/// When a membership ends, from whole days left: an instant, so 0 is "within a day", not "today".
fn access_in_days(days_left: i64) -> String {
    if days_left == 0 {
        "within a day".to_string()
    } else {
        in_days(days_left)
    }
}

/// A site as the mail names it: "Name (SUPPORT-ID)", or the Support ID alone.
fn site_label(sites: &BTreeMap<String, String>, site: &str) -> String {
    sites.get(site).map_or_else(|| site.to_string(), |name| format!("{name} ({site})"))
}

fn subject(c: &Contents<'_>) -> String {
    let mut parts = Vec::new();
    if let [one] = c.access {
        parts.push(format!("Your access to {} ends {}", site_label(c.sites, &one.claim.site), access_in_days(one.days_left)));
    } else if !c.access.is_empty() {
        parts.push(format!("Your access to {} account sites ends within {} days", c.access.len(), ACCESS_NOTICE.whole_days()));
    }
    if !c.due.is_empty() {
        let soonest = c.due.iter().map(|d| d.days_left).min().unwrap_or_default();
        parts.push(format!(
            "{} you can see {} within {} days",
            plural(c.due.len(), "entitlement", "entitlements"),
            if c.due.len() == 1 { "ends" } else { "end" },
            THRESHOLDS.into_iter().find(|t| soonest <= i64::from(*t)).unwrap_or(THRESHOLDS[2])
        ));
    }
    parts.join("; ")
}

/// The digest of `contents` for `to`.
pub fn render(to: &Email, contents: &Contents<'_>, links: &Links, token: &str, digest_id: &str) -> OutgoingMail {
    let Contents { due, lines, access, sites } = *contents;
    let mut text = String::new();
    let _ = writeln!(text, "Hello {to},\n");
    if !access.is_empty() {
        let _ = writeln!(text, "Your access to these account sites ends soon:\n");
        for a in access {
            let _ = writeln!(
                text,
                "  - {}: your membership ends {} ({})",
                site_label(sites, &a.claim.site),
                readable(&a.claim.ends_at),
                access_in_days(a.days_left)
            );
        }
        let _ = writeln!(
            text,
            "\nTo keep it, ask one of the site's administrators to confirm you in its access review or to move\nthe end date; after the end you can ask for access again. Site Management: {}\n",
            links.manage()
        );
    }
    if !due.is_empty() {
        let _ = writeln!(text, "These entitlements you can see in the Entitlement View end soon:\n");
    }
    for threshold in THRESHOLDS {
        let mut group: Vec<&Due> = due.iter().filter(|d| d.claim.threshold == threshold).collect();
        if group.is_empty() {
            continue;
        }
        group.sort_by(|a, b| (a.days_left, &a.claim.serial).cmp(&(b.days_left, &b.claim.serial)));
        let _ = writeln!(text, "Ending within {threshold} days ({}):", group.len());
        for d in group {
            let Some(r) = lines.get(d.line) else { continue };
            let l = &r.entitlement.line.line;
            let _ = writeln!(
                text,
                "  - {} ({}), quantity {}: serial {}, ends {} ({}); {} ({}), order {}",
                l.product,
                l.sku,
                l.quantity,
                l.serial,
                l.ends_on,
                in_days(d.days_left),
                r.site.name,
                r.site.support_id,
                r.entitlement.line.order_id
            );
        }
        let _ = writeln!(text);
    }
    if !due.is_empty() {
        let _ = writeln!(text, "Plan your renewals on the radar: {}\n", links.radar());
    }
    let _ = writeln!(
        text,
        "You get this because you can see these entitlements or are a member of these sites. Each entitlement\nis announced once at 90, 30 and 7 days; the end of your own access to a site once, {} days before.",
        ACCESS_NOTICE.whole_days()
    );
    let unsubscribe_url = links.unsubscribe(token);
    let _ = writeln!(text, "No more of these e-mails: {unsubscribe_url}");
    let _ = writeln!(text, "(or turn them off under Settings in the Entitlement View).\n\nDigest {digest_id}");
    OutgoingMail { to: to.clone(), subject: subject(contents), text, unsubscribe_url, digest_id: digest_id.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entitlement::{EntitlementStatus, LineItem, SiteRef, VisibleEntitlement};
    use crate::domain::{Access, Line, OrderId, SupportId};
    use crate::store::notices::NoticeClaimKey;

    fn renewal(serial: &str, ends_on: &str) -> Renewal {
        let raw = serde_json::json!({"serial": serial, "sku": "SEP-14", "product": "Endpoint Protection", "quantity": 5,
            "starts_on": "2026-01-01", "ends_on": ends_on, "license_keys": ["SECRET-KEY"]});
        Renewal {
            entitlement: VisibleEntitlement {
                line: LineItem {
                    order_id: OrderId::parse("O-1").unwrap(),
                    version: 1,
                    site: SupportId::parse("ACME-1").unwrap(),
                    reseller: None,
                    line: serde_json::from_value::<Line>(raw).unwrap(),
                },
                status: EntitlementStatus::Active,
                access: vec![Access::Member],
            },
            site: SiteRef { support_id: SupportId::parse("ACME-1").unwrap(), name: "Acme Inc".into() },
        }
    }

    #[test]
    fn the_digest_groups_by_threshold_links_the_radar_and_the_unsubscribe_and_shows_no_key() {
        let lines = vec![renewal("S1", "2027-01-05"), renewal("S2", "2027-03-01")];
        let due = vec![
            Due { line: 1, claim: NoticeClaimKey { serial: "S2".into(), ends_on: "2027-03-01".into(), threshold: 90 }, days_left: 59 },
            Due { line: 0, claim: NoticeClaimKey { serial: "S1".into(), ends_on: "2027-01-05".into(), threshold: 7 }, days_left: 4 },
        ];
        let links = Links { web_url: "https://web.example/".into(), api_url: "https://api.example".into() };
        let sites = BTreeMap::new();
        let contents = Contents { due: &due, lines: &lines, access: &[], sites: &sites };
        let mail = render(&Email::parse("bill@acme.example").unwrap(), &contents, &links, "TOKEN", "d1");
        assert_eq!(mail.subject, "2 entitlements you can see end within 7 days");
        let seven = mail.text.find("Ending within 7 days (1)").unwrap();
        let ninety = mail.text.find("Ending within 90 days (1)").unwrap();
        assert!(seven < ninety, "tightest first:\n{}", mail.text);
        assert!(mail.text.contains("serial S1, ends 2027-01-05 (in 4 days); Acme Inc (ACME-1), order O-1"));
        assert!(mail.text.contains("https://web.example/#/renewals"));
        assert_eq!(mail.unsubscribe_url, "https://api.example/v1/notices/unsubscribe?token=TOKEN");
        assert!(mail.text.contains(&mail.unsubscribe_url));
        assert!(!mail.text.contains("SECRET-KEY"), "no licence key in an e-mail");
    }

    #[test]
    fn an_access_notice_names_the_site_and_the_end_and_says_how_to_keep_it() {
        let access = vec![AccessDue {
            claim: crate::store::notices::AccessNoticeKey { site: "ACME-1".into(), ends_at: "2027-01-08T00:00:00.000000Z".into() },
            days_left: 6,
        }];
        let sites = BTreeMap::from([("ACME-1".to_string(), "Acme Inc".to_string())]);
        let links = Links { web_url: "https://web.example".into(), api_url: "https://api.example".into() };
        let contents = Contents { due: &[], lines: &[], access: &access, sites: &sites };
        let mail = render(&Email::parse("dana@acme.example").unwrap(), &contents, &links, "TOKEN", "d2");
        assert_eq!(mail.subject, "Your access to Acme Inc (ACME-1) ends in 6 days");
        assert!(mail.text.contains("  - Acme Inc (ACME-1): your membership ends 2027-01-08 00:00 UTC (in 6 days)"), "{}", mail.text);
        assert!(mail.text.contains("https://web.example/#/manage"));
        assert!(!mail.text.contains("#/renewals"), "no entitlement in it, no radar link:\n{}", mail.text);
        assert!(mail.text.contains("No more of these e-mails: https://api.example/v1/notices/unsubscribe?token=TOKEN"));
        // An end is an instant: less than a day left is "within a day", whatever the calendar says.
        let soon = vec![AccessDue { days_left: 0, ..access[0].clone() }];
        let contents = Contents { due: &[], lines: &[], access: &soon, sites: &sites };
        let mail = render(&Email::parse("dana@acme.example").unwrap(), &contents, &links, "TOKEN", "d3");
        assert_eq!(mail.subject, "Your access to Acme Inc (ACME-1) ends within a day");
    }
}
