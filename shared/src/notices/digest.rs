//! The digest e-mail, pure: one message per contact and visit, the notices grouped by
//! threshold (7, 30, 90 days), each line with its site, product, serial and end day, a link
//! to the radar and the signed unsubscribe link. Plain text: it reads the same in every
//! client, and no licence key is ever in it.

use super::plan::{Due, THRESHOLDS};
use crate::domain::Email;
use crate::store::view::Renewal;
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
    pub fn unsubscribe(&self, token: &str) -> String {
        format!("{}{UNSUBSCRIBE_PATH}?token={token}", self.api_url.trim_end_matches('/'))
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The digest of `due` (entries of `lines`) for `to`.
pub fn render(to: &Email, due: &[Due], lines: &[Renewal], links: &Links, token: &str, digest_id: &str) -> OutgoingMail {
    let soonest = due.iter().map(|d| d.days_left).min().unwrap_or_default();
    let subject = format!(
        "{} you can see {} within {} days",
        plural(due.len(), "entitlement", "entitlements"),
        if due.len() == 1 { "ends" } else { "end" },
        THRESHOLDS.into_iter().find(|t| soonest <= i64::from(*t)).unwrap_or(THRESHOLDS[2])
    );
    let mut text = String::new();
    let _ = writeln!(text, "Hello {to},\n");
    let _ = writeln!(text, "These entitlements you can see in the Entitlement View end soon:\n");
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
            let when = match d.days_left {
                0 => "today".to_string(),
                1 => "in 1 day".to_string(),
                n => format!("in {n} days"),
            };
            let _ = writeln!(
                text,
                "  - {} ({}), quantity {}: serial {}, ends {} ({when}); {} ({}), order {}",
                l.product, l.sku, l.quantity, l.serial, l.ends_on, r.site.name, r.site.support_id, r.entitlement.line.order_id
            );
        }
        let _ = writeln!(text);
    }
    let _ = writeln!(text, "Plan your renewals on the radar: {}\n", links.radar());
    let _ = writeln!(text, "You get this because you can see these entitlements. Each is announced once at 90, 30 and 7 days.");
    let unsubscribe_url = links.unsubscribe(token);
    let _ = writeln!(text, "No more of these e-mails: {unsubscribe_url}");
    let _ = writeln!(text, "(or turn them off under Settings in the Entitlement View).\n\nDigest {digest_id}");
    OutgoingMail { to: to.clone(), subject, text, unsubscribe_url, digest_id: digest_id.to_string() }
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
        let mail = render(&Email::parse("bill@acme.example").unwrap(), &due, &lines, &links, "TOKEN", "d1");
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
}
