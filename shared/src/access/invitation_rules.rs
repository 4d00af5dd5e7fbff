//! The rules of invitations (issue 21 part 3), as pure functions: from what was read to a
//! [`Plan`]. No I/O; `super::invitations` reads and commits.
//!
//! - A site admin (or Care) invites an e-mail address with a role (and, optionally, an end
//!   date for the membership it grants). Inviting someone already a member is 409; inviting
//!   again renews the invitation (a new 14-day lifetime), conditioned on the one read.
//! - The invitee becomes a member when they next call the API signed in with that address,
//!   verified: accepting is checked against `expires_at` then (the clock of the accepting
//!   request, never a sweep's), so an expired invitation grants nothing and is dropped.
//! - §5's last-admin rules hold: an invitation to `admin` is no admin until accepted (the site's
//!   admin count moves only in the accepting transaction, conditioned on the count as read);
//!   accepting never lowers a role (an admin invited as `user` stays admin).

use super::rules::{may_manage, Plan};
use super::{AccessError, Actor};
use crate::domain::access::{HistoryAction, Stamp};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{HistoryEntry, SiteMeta, Write};
use crate::store::access_invites::Invitation;
use time::OffsetDateTime;

/// What inviting (or withdrawing) read.
#[derive(Debug, Clone, Default)]
pub struct InviteSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    /// The invitee's role at the site now.
    pub member_role: Option<Role>,
    /// The invitation of that address already there.
    pub existing: Option<Invitation>,
}

/// What an invitation answers: new (201) or renewed (200).
#[derive(Debug, Clone, PartialEq)]
pub enum Invited {
    New(Invitation),
    Renewed(Invitation),
}

/// Is the invitation past its lifetime at `now`?
pub fn expired(invitation: &Invitation, now: &Stamp) -> bool {
    invitation.expires_at <= *now
}

fn entry(site: &SupportId, at: &Stamp, seq: u8, actor: &str, action: HistoryAction, inv: &Invitation) -> HistoryEntry {
    let mut e = HistoryEntry::new(site, at, seq, actor, action);
    e.subject = Some(inv.email.clone());
    e.role = Some(inv.role);
    e
}

/// `POST /v1/sites/{s}/invitations {email, role, ends_at}`.
#[allow(clippy::too_many_arguments)]
pub fn plan_invite(
    snap: InviteSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    invitee: &Email,
    role: Role,
    ends_at: Option<Stamp>,
    lifetime: time::Duration,
    now: OffsetDateTime,
) -> Result<Plan<Invited>, AccessError> {
    let meta = may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let at = Stamp::of(now);
    if let Some(role) = snap.member_role {
        return Err(AccessError::Conflict(format!("{invitee} is already a member ({role}) of {site_id}")));
    }
    if ends_at.as_ref().is_some_and(|end| *end <= at) {
        return Err(AccessError::BadInput("ends_at must be in the future".into()));
    }
    let invitation = Invitation {
        support_id: site_id.clone(),
        site_name: meta.name,
        email: invitee.clone(),
        role,
        invited_by: actor.email.to_string(),
        invited_at: at.clone(),
        expires_at: Stamp::of(now + lifetime),
        ends_at,
    };
    let mut history = entry(site_id, &at, 0, actor.email.as_str(), HistoryAction::Invited, &invitation);
    history.reason = Some(match &invitation.ends_at {
        Some(end) => format!("invitation expires at {}; membership ends at {end}", invitation.expires_at),
        None => format!("invitation expires at {}", invitation.expires_at),
    });
    let mut writes = vec![
        Write::Invitation { invitation: invitation.clone(), seen: snap.existing.as_ref().map(|i| i.invited_at.clone()) },
        // Someone who joined meanwhile is not invited: the plan re-reads and answers 409.
        Write::MembershipIs { email: invitee.clone(), site: site_id.clone(), role: None },
        Write::History(history),
    ];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    let outcome = if snap.existing.is_some() { Invited::Renewed(invitation) } else { Invited::New(invitation) };
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome })
}

/// `DELETE /v1/sites/{s}/invitations/{email}`: the withdrawn invitation.
pub fn plan_withdraw(
    snap: InviteSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    invitee: &Email,
    now: OffsetDateTime,
) -> Result<Plan<Invitation>, AccessError> {
    may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let Some(invitation) = snap.existing else {
        return Err(AccessError::NotFound(format!("{site_id} has no invitation for {invitee}")));
    };
    let at = Stamp::of(now);
    let mut writes = vec![
        Write::RemoveInvitation { site: site_id.clone(), email: invitee.clone(), invited_at: invitation.invited_at.clone() },
        Write::History(entry(site_id, &at, 0, actor.email.as_str(), HistoryAction::InvitationWithdrawn, &invitation)),
    ];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: invitation })
}

/// What accepting one invitation read (consistently).
#[derive(Debug, Clone, Default)]
pub struct AcceptSnapshot {
    /// The invitation as the site's item holds it now (`None`: withdrawn or accepted meanwhile).
    pub invitation: Option<Invitation>,
    pub site: Option<SiteMeta>,
    /// The invitee's role at the site now.
    pub member_role: Option<Role>,
}

/// What accepting did.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A member now, with this role (a promotion when they were a `user` invited as `admin`).
    Member { site: SupportId, role: Role },
    /// Already a member with this role (or higher): the invitation is used up, nothing changes.
    AlreadyMember { site: SupportId, role: Role },
    /// Past its 14 days: dropped, nothing granted.
    Expired { site: SupportId },
    /// Nothing left to accept (withdrawn or accepted meanwhile, or the site is gone).
    Gone,
}

/// Accepts one invitation for `invitee`, who called signed in with that verified address.
pub fn plan_accept(snap: AcceptSnapshot, invitee: &Email, now: OffsetDateTime) -> Result<Plan<Accepted>, AccessError> {
    let Some(inv) = snap.invitation.filter(|i| &i.email == invitee) else { return Ok(Plan::answer(Accepted::Gone)) };
    let at = Stamp::of(now);
    let site_id = inv.support_id.clone();
    let remove = Write::RemoveInvitation { site: site_id.clone(), email: invitee.clone(), invited_at: inv.invited_at.clone() };
    if expired(&inv, &at) {
        let mut history = entry(&site_id, &at, 0, "system", HistoryAction::InvitationExpired, &inv);
        history.reason = Some(format!("expired at {}", inv.expires_at));
        return Ok(Plan {
            writes: vec![remove, Write::History(history)],
            messages: Vec::new(),
            orphaned: None,
            outcome: Accepted::Expired { site: site_id },
        });
    }
    let Some(meta) = snap.site else {
        return Ok(Plan { writes: vec![remove], messages: Vec::new(), orphaned: None, outcome: Accepted::Gone });
    };
    let mut history = entry(&site_id, &at, 0, invitee.as_str(), HistoryAction::InvitationAccepted, &inv);
    history.previous_role = snap.member_role;
    history.reason = Some(format!("invited by {} at {}", inv.invited_by, inv.invited_at));
    let promote = snap.member_role == Some(Role::User) && inv.role == Role::Admin;
    let mut writes = vec![remove];
    let outcome = match snap.member_role {
        Some(role) if !promote => {
            history.role = Some(role);
            writes.push(Write::MembershipIs { email: invitee.clone(), site: site_id.clone(), role: Some(role) });
            Accepted::AlreadyMember { site: site_id.clone(), role }
        }
        previous => {
            writes.push(Write::SetMembership {
                email: invitee.clone(),
                site: site_id.clone(),
                role: inv.role,
                previous,
                at: at.clone(),
                resells: meta.resells,
                ends_at: inv.ends_at.clone(),
            });
            if inv.role == Role::Admin {
                // The invitation counts as an admin only now, exactly like an approval.
                writes.push(Write::SetAdminCount { site: site_id.clone(), seen: meta.admin_count, new: meta.admin_count + 1 });
            }
            Accepted::Member { site: site_id.clone(), role: inv.role }
        }
    };
    writes.push(Write::History(history));
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_fixtures::{actor, email, site_meta, t0};

    fn site(admins: i64) -> SiteMeta {
        site_meta("FARM-1", "Farm Foods", admins)
    }
    fn invitation(role: Role, at: OffsetDateTime) -> Invitation {
        Invitation {
            support_id: site(0).support_id,
            site_name: "Farm Foods".into(),
            email: email("ivy@farm.example"),
            role,
            invited_by: "carla@care.example".into(),
            invited_at: Stamp::of(at),
            expires_at: Stamp::of(at + time::Duration::days(14)),
            ends_at: None,
        }
    }
    const DAYS14: time::Duration = time::Duration::days(14);

    #[test]
    fn only_admins_and_care_invite_and_never_an_existing_member() {
        let id = site(1).support_id;
        let ivy = email("ivy@farm.example");
        let snap = |actor_role, member_role| InviteSnapshot { site: Some(site(1)), actor_role, member_role, existing: None };
        let stranger = plan_invite(snap(None, None), &actor("zed@farm.example", false), &id, &ivy, Role::User, None, DAYS14, t0());
        assert!(matches!(stranger, Err(AccessError::NotYourSite(_))));
        let user = plan_invite(snap(Some(Role::User), None), &actor("zed@farm.example", false), &id, &ivy, Role::User, None, DAYS14, t0());
        assert!(matches!(user, Err(AccessError::NotYourSite(_))));
        let member = plan_invite(
            snap(Some(Role::Admin), Some(Role::User)),
            &actor("fiona@farm.example", false),
            &id,
            &ivy,
            Role::Admin,
            None,
            DAYS14,
            t0(),
        );
        assert!(matches!(member, Err(AccessError::Conflict(_))));
        let past = Some(Stamp::of(t0() - time::Duration::hours(1)));
        let bad_end =
            plan_invite(snap(Some(Role::Admin), None), &actor("fiona@farm.example", false), &id, &ivy, Role::User, past, DAYS14, t0());
        assert!(matches!(bad_end, Err(AccessError::BadInput(_))));
        let ok =
            plan_invite(snap(Some(Role::Admin), None), &actor("fiona@farm.example", false), &id, &ivy, Role::Admin, None, DAYS14, t0())
                .unwrap();
        let Invited::New(inv) = &ok.outcome else { panic!("new") };
        assert_eq!(inv.expires_at, Stamp::of(t0() + DAYS14), "14 days");
        assert!(ok.writes.iter().any(|w| matches!(w, Write::Invitation { seen: None, .. })));
        assert!(ok.writes.iter().any(|w| matches!(w, Write::MembershipIs { role: None, email, .. } if *email == ivy)));
        assert!(
            ok.writes.iter().any(|w| matches!(w, Write::MembershipIs { role: Some(Role::Admin), .. })),
            "the inviter's right at commit"
        );
        assert!(
            !ok.writes.iter().any(|w| matches!(w, Write::SetAdminCount { .. } | Write::SetMembership { .. })),
            "an invitation is no admin yet"
        );
        // Inviting again renews, conditioned on the invitation read.
        let again = InviteSnapshot { existing: Some(invitation(Role::User, t0() - time::Duration::days(3))), ..snap(None, None) };
        let renewed = plan_invite(again, &actor("carla@care.example", true), &id, &ivy, Role::User, None, DAYS14, t0()).unwrap();
        assert!(matches!(renewed.outcome, Invited::Renewed(_)));
        assert!(renewed.writes.iter().any(|w| matches!(w, Write::Invitation { seen: Some(_), .. })));
    }

    #[test]
    fn an_invitation_is_accepted_only_within_its_14_days() {
        let ivy = email("ivy@farm.example");
        let inv = invitation(Role::User, t0());
        let snap = |member_role| AcceptSnapshot { invitation: Some(inv.clone()), site: Some(site(0)), member_role };
        let in_time = plan_accept(snap(None), &ivy, t0() + DAYS14 - time::Duration::seconds(1)).unwrap();
        assert_eq!(in_time.outcome, Accepted::Member { site: inv.support_id.clone(), role: Role::User });
        assert!(in_time.writes.iter().any(|w| matches!(w, Write::SetMembership { previous: None, role: Role::User, .. })));
        assert!(in_time.writes.iter().any(|w| matches!(w, Write::RemoveInvitation { .. })));
        let late = plan_accept(snap(None), &ivy, t0() + DAYS14).unwrap();
        assert_eq!(late.outcome, Accepted::Expired { site: inv.support_id.clone() });
        assert!(!late.writes.iter().any(|w| matches!(w, Write::SetMembership { .. })));
        assert!(late.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::InvitationExpired)));
        // Someone else's invitation, or none, accepts nothing.
        assert_eq!(plan_accept(snap(None), &email("eve@farm.example"), t0()).unwrap().outcome, Accepted::Gone);
        assert_eq!(plan_accept(AcceptSnapshot::default(), &ivy, t0()).unwrap().outcome, Accepted::Gone);
    }

    #[test]
    fn an_admin_invitation_counts_only_once_accepted_and_accepting_never_demotes() {
        let ivy = email("ivy@farm.example");
        let admin_inv = invitation(Role::Admin, t0());
        let accepted =
            plan_accept(AcceptSnapshot { invitation: Some(admin_inv.clone()), site: Some(site(0)), member_role: None }, &ivy, t0())
                .unwrap();
        assert!(accepted.writes.iter().any(|w| matches!(w, Write::SetAdminCount { seen: 0, new: 1, .. })));
        let promoted =
            plan_accept(AcceptSnapshot { invitation: Some(admin_inv), site: Some(site(2)), member_role: Some(Role::User) }, &ivy, t0())
                .unwrap();
        assert!(promoted.writes.iter().any(|w| matches!(w, Write::SetMembership { previous: Some(Role::User), role: Role::Admin, .. })));
        assert!(promoted.writes.iter().any(|w| matches!(w, Write::SetAdminCount { seen: 2, new: 3, .. })));
        let admin_as_user = plan_accept(
            AcceptSnapshot { invitation: Some(invitation(Role::User, t0())), site: Some(site(1)), member_role: Some(Role::Admin) },
            &ivy,
            t0(),
        )
        .unwrap();
        assert_eq!(admin_as_user.outcome, Accepted::AlreadyMember { site: site(1).support_id, role: Role::Admin });
        assert!(!admin_as_user.writes.iter().any(|w| matches!(w, Write::SetMembership { .. } | Write::SetAdminCount { .. })));
    }

    #[test]
    fn withdrawing_needs_an_invitation() {
        let id = site(1).support_id;
        let ivy = email("ivy@farm.example");
        let none = InviteSnapshot { site: Some(site(1)), ..Default::default() };
        assert!(matches!(plan_withdraw(none, &actor("carla@care.example", true), &id, &ivy, t0()), Err(AccessError::NotFound(_))));
        let some = InviteSnapshot { site: Some(site(1)), existing: Some(invitation(Role::User, t0())), ..Default::default() };
        let plan = plan_withdraw(some, &actor("carla@care.example", true), &id, &ivy, t0()).unwrap();
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::InvitationWithdrawn)));
    }
}
