//! The store side of invitations (issue 21 part 3). An invitation of `E` to site `S` is two
//! items written and deleted together in one transaction: `SITE#{S}`/`INVITE#{E}` (the
//! admins' list, one partition range) and `CONTACT#{E}`/`INVITED#{S}` (found by the
//! invitee's e-mail: one Query of their partition when they next call). The rules that decide
//! are `crate::access::invitation_rules`; the writes are [`super::access::Write`] variants.

use super::access::{Listing, PageKey};
use super::keys::{self, Item, Key};
use super::tx::{tx_delete, tx_put, Cond};
use super::{from_item, get_s, s, to_item, Store, StoreError};
use crate::domain::access::Stamp;
use crate::domain::{Email, Role, SupportId};
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

/// A pending invitation: `email` becomes a member of the site with `role` when they next
/// call the API signed in with that verified address, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    pub role: Role,
    /// Who invited (an admin's e-mail, or a Care agent's).
    pub invited_by: String,
    pub invited_at: Stamp,
    pub expires_at: Stamp,
    /// When the membership it grants ends, if the inviter set one (contractors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Stamp>,
}

impl Invitation {
    pub fn site_key(&self) -> Key {
        keys::site_invitation(&self.support_id, &self.email)
    }
    pub fn contact_key(&self) -> Key {
        keys::contact_invitation(&self.email, &self.support_id)
    }
    fn item(&self, key: &Key) -> Result<Item, StoreError> {
        let mut item = to_item(self)?;
        item.extend(key.to_item());
        Ok(item)
    }
}

/// The invitation is as read: absent (`None`), or made at `invited_at`.
fn invitation_is(seen: Option<&Stamp>) -> Cond {
    match seen {
        None => Cond::absent(),
        Some(at) => Cond::new("invited_at = :seen_invited_at").value(":seen_invited_at", s(at.as_str())),
    }
}

/// Both items of an invitation, new or replacing the one read (`seen`: its `invited_at`).
pub(crate) fn tx_put_invitation(table: &str, inv: &Invitation, seen: Option<&Stamp>) -> Result<Vec<TransactWriteItem>, StoreError> {
    Ok(vec![
        tx_put(table, inv.item(&inv.site_key())?, Some(invitation_is(seen)))?,
        tx_put(table, inv.item(&inv.contact_key())?, Some(invitation_is(seen)))?,
    ])
}

/// Deletes both items of the invitation made at `invited_at` (and only that one).
pub(crate) fn tx_remove_invitation(
    table: &str,
    site: &SupportId,
    email: &Email,
    invited_at: &Stamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    Ok(vec![
        tx_delete(table, &keys::site_invitation(site, email), Some(invitation_is(Some(invited_at))))?,
        // The invitee's copy goes whatever it holds: the site's item is the one conditioned.
        tx_delete(table, &keys::contact_invitation(email, site), None)?,
    ])
}

impl Store {
    /// One invitation of a site, read consistently.
    pub async fn invitation(&self, site: &SupportId, email: &Email) -> Result<Option<Invitation>, StoreError> {
        match self.get("GetItem invitation", &keys::site_invitation(site, email), true).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Every invitation waiting for `email`: one consistent Query of their partition.
    pub async fn invitations_for(&self, email: &Email) -> Result<Vec<Invitation>, StoreError> {
        let items = self.all_items("Query invitations for contact", &keys::contact_pk(email), Some(keys::INVITED_PREFIX)).await?;
        items.into_iter().filter(|i| get_s(i, "email").is_some()).map(from_item).collect()
    }

    /// A page of a site's invitations, by invitee (consistent: one partition range).
    pub async fn site_invitations_page(
        &self,
        site: &SupportId,
        start: Option<&PageKey>,
        limit: usize,
    ) -> Result<(Vec<Invitation>, Option<PageKey>), StoreError> {
        let listing = Listing {
            op: "Query site invitations",
            index: None,
            pk: keys::site_pk(site),
            prefix: Some(keys::INVITE_PREFIX),
            forward: true,
        };
        let page = self.page(&listing, start, limit, true).await?;
        let invitations = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((invitations, page.next))
    }
}
