//! The store side of access reviews (issue 21 part 4): the site's schedule (`review_every_days`,
//! `review_due_at` on `SITE#{s}`/`META`), the confirmations of the review due at `{due}`
//! (`SITE#{s}`/`REVIEW#{due}#{e}`), the sweep's day index of due reviews
//! (`REVIEW_DUE#{day}`/`{due}#{s}`) and its watermark. The rules are
//! `crate::access::review_rules`; the writes are [`super::access::Write`] variants.

use super::keys::{self, Item};
use super::tx::{tx_delete, tx_put, tx_update, Cond};
use super::{get_n, get_s, s, Store, StoreError};
use crate::domain::access::Stamp;
use crate::domain::{Email, SupportId};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The attributes of a site record that hold its review schedule.
pub const REVIEW_EVERY_DAYS: &str = "review_every_days";
pub const REVIEW_DUE_AT: &str = "review_due_at";

/// A site's access-review schedule as its record says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewSchedule {
    /// Every how many days (absent: no reviews, the default).
    pub every_days: Option<i64>,
    /// The deadline of the review under way.
    pub due_at: Option<Stamp>,
}

/// One confirmation in a review.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub email: Email,
    pub by: String,
    pub at: Stamp,
}

/// A due review in the sweep's index.
#[derive(Debug, Clone, PartialEq)]
pub struct DueReview {
    pub support_id: SupportId,
    pub due_at: Stamp,
}

fn schedule_of(item: &Item) -> ReviewSchedule {
    ReviewSchedule { every_days: get_n(item, REVIEW_EVERY_DAYS), due_at: get_s(item, REVIEW_DUE_AT).map(Stamp::stored) }
}

/// Sets (or turns off) a site's schedule, conditioned on the due instant as read, and moves
/// the sweep's index entry in the same transaction.
pub(crate) fn tx_review_schedule(
    table: &str,
    site: &SupportId,
    every_days: Option<i64>,
    due_at: Option<&Stamp>,
    seen_due: Option<&Stamp>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let cond = match seen_due {
        None => Cond::new(format!("attribute_exists(#pk) AND attribute_not_exists({REVIEW_DUE_AT})")),
        Some(due) => Cond::new(format!("{REVIEW_DUE_AT} = :seen_due")).value(":seen_due", s(due.as_str())),
    };
    let record = match (every_days, due_at) {
        (Some(days), Some(due)) => tx_update(
            table,
            &keys::site_meta(site),
            &format!("SET {REVIEW_EVERY_DAYS} = :every, {REVIEW_DUE_AT} = :due"),
            vec![(":every", super::n(days)), (":due", s(due.as_str()))],
            Some(cond),
        )?,
        _ => tx_update(table, &keys::site_meta(site), &format!("REMOVE {REVIEW_EVERY_DAYS}, {REVIEW_DUE_AT}"), Vec::new(), Some(cond))?,
    };
    let mut items = vec![record];
    if let Some(old) = seen_due {
        items.push(tx_delete(table, &keys::review_due(old.day(), old.as_str(), site), None)?);
    }
    if let (Some(_), Some(due)) = (every_days, due_at) {
        let mut entry = keys::review_due(due.day(), due.as_str(), site).to_item();
        entry.insert("support_id".into(), s(site.as_str()));
        entry.insert(REVIEW_DUE_AT.into(), s(due.as_str()));
        items.push(tx_put(table, entry, None)?);
    }
    Ok(items)
}

/// A confirmation of `email` in the review due at `due`, only while that review is the site's.
pub(crate) fn tx_confirmation(
    table: &str,
    site: &SupportId,
    email: &Email,
    due: &Stamp,
    by: &str,
    at: &Stamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut item = keys::review_confirmation(site, due.as_str(), email).to_item();
    item.insert("email".into(), s(email.as_str()));
    item.insert("confirmed_by".into(), s(by));
    item.insert("confirmed_at".into(), s(at.as_str()));
    let still_due = Cond::new(format!("{REVIEW_DUE_AT} = :confirm_due")).value(":confirm_due", s(due.as_str()));
    Ok(vec![tx_put(table, item, None)?, super::tx::tx_check(table, &keys::site_meta(site), still_due)?])
}

impl Store {
    /// A site's review schedule, read consistently from its record.
    pub async fn review_schedule(&self, site: &SupportId) -> Result<ReviewSchedule, StoreError> {
        Ok(self.get("GetItem site review schedule", &keys::site_meta(site), true).await?.as_ref().map(schedule_of).unwrap_or_default())
    }

    /// The confirmations of every review of a site still stored (consistent: one partition range).
    pub async fn review_confirmations(&self, site: &SupportId) -> Result<Vec<(Stamp, Confirmation)>, StoreError> {
        let items = self.all_items("Query review confirmations", &keys::site_pk(site), Some(keys::REVIEW_PREFIX)).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let sk = get_s(i, keys::SK)?;
                let due = sk.strip_prefix(keys::REVIEW_PREFIX)?.rsplit_once('#')?.0;
                let confirmation = Confirmation {
                    email: Email::parse(get_s(i, "email")?).ok()?,
                    by: get_s(i, "confirmed_by")?.to_string(),
                    at: Stamp::stored(get_s(i, "confirmed_at")?),
                };
                Some((Stamp::stored(due), confirmation))
            })
            .collect())
    }

    /// The reviews due on `day` (the sweep's index; consistent).
    pub async fn reviews_due_on(&self, day: &str) -> Result<Vec<DueReview>, StoreError> {
        let items = self.all_items("Query reviews due", &keys::review_due_pk(day), None).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(DueReview {
                    support_id: SupportId::parse(get_s(i, "support_id")?).ok()?,
                    due_at: Stamp::stored(get_s(i, REVIEW_DUE_AT)?),
                })
            })
            .collect())
    }

    pub async fn review_sweep_watermark(&self) -> Result<Option<String>, StoreError> {
        let item = self.get("GetItem review sweep watermark", &keys::review_sweep_watermark(), true).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "day")).map(str::to_string))
    }

    /// Moves the review sweep's watermark forward to `day` (never back).
    pub async fn advance_review_sweep_watermark(&self, day: &str) -> Result<(), StoreError> {
        let mut item = keys::review_sweep_watermark().to_item();
        item.insert("day".into(), s(day));
        let forward = Cond::new("attribute_not_exists(#pk) OR #day < :day").value(":day", s(day));
        self.put("PutItem review sweep watermark", item, Some(forward)).await.map(|_| ())
    }

    /// Every member of a site with role and end, read from the members index (all pages).
    pub async fn all_site_members(&self, site: &SupportId) -> Result<Vec<super::access::Membership>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.site_members_page(site, start.as_ref(), 500).await?;
            out.extend(page);
            match next {
                Some(n) => start = Some(n),
                None => return Ok(out),
            }
        }
    }
}
