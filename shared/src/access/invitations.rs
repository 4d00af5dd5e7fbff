//! Invitations (issue 21 part 3): a site's admins (or Care) invite an e-mail address with a
//! role; the invitee becomes a member when they next call `GET /v1/sites` signed in with that
//! address, verified. Each operation reads a snapshot, plans with
//! [`super::invitation_rules`] and commits through [`super::run`].
//!
//! Guarantees: the invitation's two items (`SITE#{s}`/`INVITE#{e}`, `CONTACT#{e}`/`INVITED#{s}`)
//! move together in one transaction, conditioned on the invitation as read (`invited_at`), so
//! of a withdrawal and an acceptance racing one commits and the other re-reads and finds
//! nothing; accepting writes the membership conditioned on it as read and, for `admin`, the
//! admin count as read — exactly like an approval. A retried accept finds no invitation and
//! does nothing (the membership it wrote stands).

use super::invitation_rules::{self, AcceptSnapshot, Accepted, InviteSnapshot, Invited};
use super::{acting_role_of, run, AccessError, Actor, Workflow};
use crate::domain::access::Stamp;
use crate::domain::{Email, Role, SupportId};
use crate::store::access_invites::Invitation;
use time::OffsetDateTime;

async fn snapshot(wf: &Workflow, actor: &Actor, site: &SupportId, invitee: &Email) -> Result<InviteSnapshot, AccessError> {
    let store = &wf.store;
    let (meta, actor_role, member_role, existing) = futures::try_join!(
        store.site_meta(site),
        acting_role_of(store, actor, site),
        store.membership_role(invitee, site),
        store.invitation(site, invitee),
    )?;
    Ok(InviteSnapshot { site: meta, actor_role, member_role, existing })
}

/// `POST /v1/sites/{s}/invitations`.
pub async fn invite(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    invitee: &Email,
    role: Role,
    ends_at: Option<Stamp>,
    now: OffsetDateTime,
) -> Result<Invited, AccessError> {
    let lifetime = wf.limits.invitation_lifetime;
    let invited = run(
        wf,
        "TransactWriteItems invite",
        now,
        || snapshot(wf, actor, site, invitee),
        |snap| invitation_rules::plan_invite(snap, actor, site, invitee, role, ends_at.clone(), lifetime, now),
    )
    .await?;
    tracing::info!(site = %site, invitee = %invitee, role = role.as_str(), by = %actor.email, "invited");
    Ok(invited)
}

/// `DELETE /v1/sites/{s}/invitations/{email}`.
pub async fn withdraw(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    invitee: &Email,
    now: OffsetDateTime,
) -> Result<Invitation, AccessError> {
    let withdrawn = run(
        wf,
        "TransactWriteItems withdraw invitation",
        now,
        || snapshot(wf, actor, site, invitee),
        |snap| invitation_rules::plan_withdraw(snap, actor, site, invitee, now),
    )
    .await?;
    tracing::info!(site = %site, invitee = %invitee, by = %actor.email, "invitation withdrawn");
    Ok(withdrawn)
}

/// Accepts every invitation `pending` lists for `invitee` (read from their partition by the
/// caller, in the round it reads their memberships). Returns what each did.
pub async fn accept_all(wf: &Workflow, invitee: &Email, pending: &[Invitation], now: OffsetDateTime) -> Result<Vec<Accepted>, AccessError> {
    let store = &wf.store;
    let mut done = Vec::with_capacity(pending.len());
    for found in pending {
        let site = &found.support_id;
        let read = || async {
            let (invitation, meta, member_role) =
                futures::try_join!(store.invitation(site, invitee), store.site_meta(site), store.membership_role(invitee, site))?;
            Ok::<_, AccessError>(AcceptSnapshot { invitation, site: meta, member_role })
        };
        let accepted =
            run(wf, "TransactWriteItems accept invitation", now, read, |snap| invitation_rules::plan_accept(snap, invitee, now)).await?;
        match &accepted {
            Accepted::Member { site, role } => {
                tracing::info!(site = %site, invitee = %invitee, role = role.as_str(), "invitation accepted")
            }
            Accepted::Expired { site } => tracing::info!(site = %site, invitee = %invitee, "invitation expired unaccepted"),
            _ => {}
        }
        done.push(accepted);
    }
    Ok(done)
}
