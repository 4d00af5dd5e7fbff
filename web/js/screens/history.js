// A site's history (issue 21): who got access how, and who decided (GET /v1/sites/{s}/history).

import { h, table, tableRow } from '../dom.js';
import { api, withQuery } from '../api.js';
import { dateTime } from '../format.js';
import { moreRows, ROLE_WORDS } from '../ui.js';

const ACTION_WORDS = {
  request_created: 'Asked for access',
  routed_to_site_admins: 'Sent to the site administrators',
  escalated_to_care: 'Sent to Customer Care',
  approved: 'Approved',
  rejected: 'Rejected',
  member_removed: 'Removed',
  last_admin_lost: 'Last administrator gone',
  claimed: 'Claimed with a serial and order number',
  claim_revoked: 'Claim revoked',
  claim_window_changed: 'Claim window changed',
  membership_end_set: 'End date set',
  membership_expired: 'Membership ended',
  request_expired: 'Request expired',
  domain_rule_added: 'Domain rule added',
  domain_rule_removed: 'Domain rule removed',
  approved_by_rule: 'Approved by a domain rule',
  invited: 'Invited',
  invitation_withdrawn: 'Invitation withdrawn',
  invitation_accepted: 'Invitation accepted',
  invitation_expired: 'Invitation expired',
  review_schedule_changed: 'Review schedule changed',
  review_confirmed: 'Confirmed in a review',
  review_lapsed: 'Not confirmed in a review: end date set',
};

export async function historySection(site) {
  const path = `/v1/sites/${encodeURIComponent(site)}/history`;
  const first = await api(withQuery(path, { limit: 50 }));
  const columns = ['When', 'What', 'Who', 'About', 'Role', 'Details'];
  const row = (e) => tableRow(columns, [dateTime(e.at), ACTION_WORDS[e.action] || e.action, e.actor, e.subject || '—',
    e.role ? ROLE_WORDS[e.role] || e.role : '—', e.reason || '—'], { 'data-action': e.action });
  const section = h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'));
  if (!first.entries.length) {
    section.append(h('p', { class: 'empty' }, 'Nothing has happened at this site yet.'));
    return section;
  }
  const tbl = table(`History of ${site}, newest first`, columns, first.entries.map(row), { id: 'history', class: 'data' });
  section.append(tbl);
  section.append(moreRows('Show older history', { tbl, path, key: 'entries', row, cursor: first.next_cursor, limit: 50 }));
  return section;
}
