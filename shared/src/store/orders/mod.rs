//! Applying one order version to the table (spec §3), idempotently and crash-safely, on a
//! DynamoDB that lags its indexes, answers eventually consistent reads from the past, loses
//! answers, conflicts and throttles — and in a function that may die at any await.
//!
//! The steps, each a module of its own (planners in [`plan`], entities in [`entities`]):
//! 1. **decide** from the head (read consistently): stale, duplicate, conflicting or new;
//! 2. **record** the version's receipt (an update that never takes progress back) while the
//!    serials' claims are checked (consistently; a claim is final only when its holder's
//!    current version holds it) — [`stage`];
//! 3. **stage**: the site's `UNSETTLED#{o}` item learns the version is staged (with the
//!    grants, checked on the head), then claims, lines and ship-to copies are written in
//!    transactions that each check the head has not moved past this version: a late write of
//!    a superseded delivery cannot land — [`stage`];
//! 4. **switch**: one transaction moves the head, the exact counters, the sites' unsettled
//!    items (the old site learns nothing of the order is current there any more) and marks
//!    the version record — [`switch`];
//! 5. **provision** P1/P2 exactly once per switched version — [`provision`];
//! 6. **finish**: older and abandoned versions' copies, then lines, grants and claims are
//!    removed; once the indexes are checked to list none of a version's entries it is
//!    `gone`, and a site's unsettled item is deleted when every other version there is gone —
//!    [`cleanup`]. Nothing waits for a clock: an order whose index still lags goes on a work
//!    list that later batches finish ([`Store::settle_pending`]); readers keep honouring its
//!    unsettled items meanwhile.
//!
//! A final exit (dead-letter) gives back what the version claimed ([`Store::abandon_order`]).

mod cleanup;
pub(crate) mod entities;
mod plan;
mod provision;
mod stage;
mod switch;

pub use super::tx::ShipToReachChange;
pub use crate::domain::entitlement::{LineItem, OrderHead};
pub(crate) use entities::reseller_marker_item;

use super::keys;
use super::{from_item, Store, StoreError};
use crate::domain::{Order, OrderId, Serial};
use plan::Decision;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use switch::SwitchOutcome;

/// The most lines one staging transaction holds (no ship-to contacts): see
/// [`plan::lines_per_chunk`].
pub const LINES_PER_CHUNK: usize = 49;
const HEAD_ATTEMPTS: usize = 3;
/// Switches of one version, each after reading the site records again, while other orders'
/// switches keep moving a site's counts; then the message is retried by SQS.
const COUNTS_ATTEMPTS: usize = 10;

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The version is now the order's current state.
    Applied { replaced: Option<u64> },
    /// This exact version was already current; nothing changed.
    Duplicate,
    /// A higher version is already current; this one was ignored.
    Stale { current: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("version {version} of order {order_id} was already received with different content")]
    ConflictingDuplicate { order_id: OrderId, version: u64 },
    #[error("serial {serial} already belongs to order {owner}")]
    SerialTaken { serial: Serial, owner: String },
    /// Another order holds the serial but is not stored: it may still give it back.
    #[error("serial {serial} is held by order {holder}, which is not stored yet")]
    SerialHeld { serial: Serial, holder: String },
    /// A final exit of another delivery gave this version up.
    #[error("version {version} of order {order_id} was given up by an earlier delivery")]
    Abandoned { order_id: OrderId, version: u64 },
    #[error("stopped after {0:?}")]
    Interrupted(Step),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApplyError {
    /// Permanent errors are the message's fault, or a store that refuses the request itself:
    /// retrying cannot help, so the message goes to the dead-letter queue with the reason.
    pub fn is_permanent(&self) -> bool {
        match self {
            ApplyError::ConflictingDuplicate { .. } | ApplyError::SerialTaken { .. } => true,
            ApplyError::Store(e) => !e.is_transient(),
            ApplyError::SerialHeld { .. } | ApplyError::Abandoned { .. } | ApplyError::Interrupted(_) => false,
        }
    }

    /// Whether this failure's version should be given up on a final exit: its own staging
    /// went wrong (not a conflicting copy of a version that another message stored).
    pub fn gives_up_the_version(&self) -> bool {
        !matches!(self, ApplyError::ConflictingDuplicate { .. })
    }
}

/// The points of applying a version, named so tests can stop or pause the function there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The head was read and the version decided on.
    HeadRead,
    /// The version record was written.
    VersionRecorded,
    /// This many staging transactions were written (1-based).
    Staged(usize),
    /// The switch transaction committed.
    Switched,
    /// The version's memberships were provisioned.
    Provisioned,
    /// Older versions' copies and lines were deleted, their grants not yet revoked.
    LinesCleaned,
}

/// Where a test can stop the function (as a Lambda killed there) or hold it while other
/// deliveries run. Production code has none ([`ApplyOptions::default`]).
pub trait Checkpoints: Send + Sync + std::fmt::Debug {
    /// Called right after `step`; an error stops applying the order there.
    fn reached(&self, step: Step) -> Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + '_>>;
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub checkpoints: Option<Arc<dyn Checkpoints>>,
}

impl ApplyOptions {
    pub fn with_checkpoints(checkpoints: Arc<dyn Checkpoints>) -> ApplyOptions {
        ApplyOptions { checkpoints: Some(checkpoints) }
    }
    async fn reached(&self, step: Step) -> Result<(), ApplyError> {
        match &self.checkpoints {
            Some(c) => c.reached(step).await,
            None => Ok(()),
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Store {
    pub async fn order_head(&self, order_id: &OrderId, consistent: bool) -> Result<Option<OrderHead>, StoreError> {
        match self.get("GetItem order head", &keys::order_head(order_id), consistent).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Applies one parsed order message: the one commit loop over the steps above.
    pub async fn apply_order(&self, order: &Order, options: &ApplyOptions) -> Result<ApplyOutcome, ApplyError> {
        let digest = order.digest();
        'decide: for _ in 0..HEAD_ATTEMPTS {
            let head = self.order_head(&order.order_id, true).await?;
            options.reached(Step::HeadRead).await?;
            match plan::decide(head.as_ref(), order, &digest) {
                Decision::Stale { current } => {
                    // A version that was switched in before this one was replaced still provisions.
                    self.provision(order, None, options).await?;
                    self.finish(&order.order_id, Some(current), options).await?;
                    return Ok(ApplyOutcome::Stale { current });
                }
                Decision::Duplicate => {
                    self.provision(order, None, options).await?;
                    self.finish(&order.order_id, Some(order.version), options).await?;
                    return Ok(ApplyOutcome::Duplicate);
                }
                Decision::Conflicting => {
                    return Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
                }
                Decision::Proceed => {}
            }
            // Independent: the version record and the serials' claims.
            let (recorded, checked) = futures::join!(self.record_version(order, &digest), self.check_serials(order));
            recorded?;
            options.reached(Step::VersionRecorded).await?;
            checked?;
            // What the switch decides on — the site records, what provisioning would find held —
            // is read while staging goes on.
            let (staged, stored, held) = futures::join!(
                self.stage(order, head.as_ref(), options),
                self.site_records_for_switch(order, head.as_ref()),
                self.held_for_switch(order)
            );
            if !staged? {
                continue;
            }
            let (mut stored, held) = (stored?, held?);
            let mut forget_unsettled = head.is_none();
            for _ in 0..COUNTS_ATTEMPTS {
                match self.switch(order, &digest, head.as_ref(), &stored, &held, forget_unsettled).await? {
                    SwitchOutcome::Switched(known) => {
                        options.reached(Step::Switched).await?;
                        self.provision(order, Some(known), options).await?;
                        self.finish(&order.order_id, Some(order.version), options).await?;
                        return Ok(ApplyOutcome::Applied { replaced: head.map(|h| h.current_version) });
                    }
                    SwitchOutcome::HeadMoved => continue 'decide,
                    SwitchOutcome::CountsMoved => stored = self.site_records_for_switch(order, head.as_ref()).await?,
                    SwitchOutcome::OthersStaged => forget_unsettled = false,
                }
            }
            return Err(StoreError::Unavailable {
                op: "apply order",
                code: "SiteCountsContention".into(),
                message: "the site's counts kept moving".into(),
            }
            .into());
        }
        Err(StoreError::Unavailable { op: "apply order", code: "HeadContention".into(), message: "the order head kept moving".into() }
            .into())
    }

    /// A final exit (the message is dead-lettered): unless this version is current, it is given
    /// up — marked so that no other delivery switches it in, and its claims, lines, copies and
    /// grants are removed — so that a refused order takes no serial with it.
    pub async fn abandon_order(&self, order: &Order) -> Result<(), ApplyError> {
        if !self.mark_abandoned(&order.order_id, order.version, &order.digest()).await? {
            return Ok(());
        }
        let head = self.order_head(&order.order_id, true).await?;
        self.finish(&order.order_id, head.map(|h| h.current_version), &ApplyOptions::default()).await.map(|_| ())
    }
}
