//! What the change-events function reads besides the stream (issue 20): when an order's head
//! moves from one version to another, the serials of both versions (from their version
//! records, which cleanup keeps) and the new version's lines (still there while it is
//! current). Read consistently: the head the stream reported is already committed.

use super::keys;
use super::orders::entities::VersionRecord;
use super::orders::LineItem;
use super::table::{Query, Range};
use super::{from_item, Store, StoreError};
use crate::domain::{OrderId, Serial};

/// The two versions of an order's head move, as the table holds them now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionTransition {
    /// Every serial of the version the head left (empty when there was none or it was not asked).
    pub old_serials: Vec<Serial>,
    /// Every serial of the version the head moved to.
    pub new_serials: Vec<Serial>,
    /// The new version's lines; fewer than `new_serials` when a later version replaced it and
    /// cleanup already removed them.
    pub new_lines: Vec<LineItem>,
}

impl Store {
    /// The serials of `old` and `new` (versions of `order_id`) and the lines of `new` (only
    /// when `with_lines`: a cancelled version shows none).
    pub async fn version_transition(
        &self,
        order_id: &OrderId,
        old: Option<u64>,
        new: u64,
        with_lines: bool,
    ) -> Result<VersionTransition, StoreError> {
        let mut wanted = vec![keys::order_version(order_id, new)];
        wanted.extend(old.map(|v| keys::order_version(order_id, v)));
        let records = async {
            let items = self.batch_get("BatchGetItem version records for events", wanted, true).await?;
            items.into_iter().map(from_item::<VersionRecord>).collect::<Result<Vec<_>, _>>()
        };
        let lines = async {
            if !with_lines {
                return Ok(Vec::new());
            }
            let q = Query::table("Query version lines for events", keys::order_pk(order_id), Range::Prefix(keys::line_prefix(new)));
            self.query_all(q).await?.into_iter().map(from_item::<LineItem>).collect::<Result<Vec<_>, _>>()
        };
        let (records, new_lines) = futures::try_join!(records, lines)?;
        let serials_of = |v: u64| records.iter().find(|r| r.version == v).map(|r| r.serials.clone()).unwrap_or_default();
        Ok(VersionTransition { old_serials: old.map(serials_of).unwrap_or_default(), new_serials: serials_of(new), new_lines })
    }
}
