//! Claims by proof of purchase (issue 21): `POST /v1/claims`, their revocation within the
//! site's window, the site's list of claims and its window setting. Each operation reads a
//! snapshot, plans with [`super::claim_rules`] and commits through [`super::run`].
//!
//! Guarantees relied on: the order head is read consistently and the line by key from the
//! head's version (never from an index); the commit re-checks both (head still at that
//! version and active, line still there), so a claim never lands on a version that was
//! replaced or cancelled meanwhile. The membership, claim record, history entry and (for a
//! site with no admin) the Care notice's outbox item commit in one transaction; the notice is
//! sent after the commit, and the sweep re-sends it if the send failed.

use super::claim_rules::{self, CareNotice, ClaimOutcome, ClaimSnapshot, RevokeSnapshot};
use super::{acting_role_of, run, AccessError, Actor, Workflow};
use crate::domain::{Email, OrderId, Serial, SupportId};
use crate::store::access_claims::ClaimRecord;
use crate::store::keys;
use time::OffsetDateTime;

/// What a claim answered: new (201) or as made before (200).
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    New(ClaimRecord),
    Existing(ClaimRecord),
}

/// `POST /v1/claims {serial, order_id}`.
pub async fn claim(wf: &Workflow, actor: &Actor, order: &OrderId, serial: &Serial, now: OffsetDateTime) -> Result<Claimed, AccessError> {
    let (store, limits) = (&wf.store, &wf.limits.claims);
    let read = || async {
        let (head, attempts) = futures::try_join!(store.order_head(order, true), store.claim_attempts(&actor.email))?;
        let mut snap = ClaimSnapshot { attempts, ..Default::default() };
        if let Some(head) = head {
            let target = store.claim_target(&head, serial, &actor.email).await?;
            snap.line_found = target.line_found;
            snap.site = target.site;
            snap.membership = target.membership;
            snap.claim = target.claim;
            snap.head = Some(head);
        }
        Ok::<_, AccessError>(snap)
    };
    let notice_id = uuid::Uuid::new_v4().to_string();
    let outcome =
        run(wf, "TransactWriteItems claim", now, read, |snap| claim_rules::plan_claim(snap, actor, order, serial, limits, now, &notice_id))
            .await?;
    match outcome {
        ClaimOutcome::Wrong => {
            tracing::info!(claimant = %actor.email, "claim refused: not a claimable serial and order");
            Err(claim_rules::wrong_pair())
        }
        ClaimOutcome::Existing(c) => Ok(Claimed::Existing(c)),
        ClaimOutcome::New { claim, notice } => {
            tracing::info!(site = %claim.support_id, claimant = %claim.email, order = %order, "membership by claim");
            if let Some(notice) = notice {
                deliver_notice(wf, &notice).await;
            }
            Ok(Claimed::New(claim))
        }
    }
}

/// `DELETE /v1/sites/{s}/claims/{email}`: revokes a claim within the site's window.
pub async fn revoke(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    claimant: &Email,
    now: OffsetDateTime,
) -> Result<ClaimRecord, AccessError> {
    let store = &wf.store;
    let read = || async {
        let (meta, actor_role, claim, member_role) = futures::try_join!(
            store.site_meta(site),
            acting_role_of(store, actor, site),
            store.site_claim(site, claimant),
            store.membership_role(claimant, site),
        )?;
        Ok::<_, AccessError>(RevokeSnapshot { site: meta, actor_role, claim, member_role })
    };
    let revoked =
        run(wf, "TransactWriteItems revoke claim", now, read, |snap| claim_rules::plan_revoke(snap, actor, site, claimant, now)).await?;
    tracing::info!(site = %site, claimant = %claimant, revoked_by = %actor.email, "claim revoked");
    Ok(revoked)
}

/// `PUT /v1/sites/{s}/claim-window {claim_revocation_days}`.
pub async fn set_claim_window(wf: &Workflow, actor: &Actor, site: &SupportId, days: i64, now: OffsetDateTime) -> Result<i64, AccessError> {
    let (store, limits) = (&wf.store, &wf.limits.claims);
    let read = || async {
        let (meta, role) = futures::try_join!(store.site_meta(site), acting_role_of(store, actor, site))?;
        Ok::<_, AccessError>((meta, role))
    };
    run(wf, "TransactWriteItems claim window", now, read, |(meta, role)| {
        claim_rules::plan_claim_window(meta, role, actor, site, days, limits, now)
    })
    .await
}

/// Sends a claim's Care notice, then deletes its outbox item; if the send fails the item
/// stays and the sweep sends it ([`resend_notice`]).
pub(crate) async fn deliver_notice(wf: &Workflow, notice: &CareNotice) {
    match serde_json::to_string(notice) {
        Ok(body) => {
            resend_notice(wf, &notice.notice_id, &body).await;
        }
        Err(e) => tracing::error!(error = %e, "care notice did not serialize"),
    }
}

/// Sends one stored notice body and deletes its outbox item. `false`: it stays for the sweep.
pub(crate) async fn resend_notice(wf: &Workflow, notice_id: &str, body: &str) -> bool {
    let Some(care) = &wf.care else {
        tracing::warn!(notice_id, "no Care queue configured (ABEV_CARE_QUEUE_URL); the notice waits in the outbox");
        return false;
    };
    if let Err(e) = care.sqs.send_message().queue_url(&care.url).message_body(body).send().await {
        tracing::warn!(notice_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "sending a notice to the Care queue failed; the sweep re-sends");
        return false;
    }
    if let Err(e) = wf.store.delete_item("DeleteItem care outbox notice", &keys::outbox_notice(notice_id)).await {
        tracing::warn!(notice_id, error = %e, "deleting the notice's outbox item failed");
    }
    true
}
