// A site's claims by proof of purchase (issue 21): who became a user of the site with a
// serial and order number, revoked within the site's window (GET /v1/sites/{s}/claims,
// DELETE …/claims/{email}), and that window itself (PUT …/claim-window).

import { h, table, tableRow } from '../dom.js';
import { api, withQuery } from '../api.js';
import { dateTime } from '../format.js';
import { state, showFailure, moreRows, deleteButton } from '../ui.js';

/** The API's window for a site that set none (claim_rules.rs, ClaimLimits::default). */
const DEFAULT_WINDOW_DAYS = 7;
const MAX_WINDOW_DAYS = 90;

/** May the claim still be revoked? Active, and its window (claimed_at + the site's days) still open. */
export function revocable(claim, now = Date.now()) {
  const until = Date.parse(claim.revocable_until);
  return claim.status === 'active' && !Number.isNaN(until) && until > now;
}

export async function claimsSection(site) {
  const path = `/v1/sites/${encodeURIComponent(site)}/claims`;
  const first = await api(withQuery(path, { limit: 100 }));
  const columns = ['Claimant', 'Serial', 'Order', 'Claimed', 'Revocable until', 'State', 'Revoke'];
  const row = (c) => tableRow(columns, [c.email, c.serial, c.order_id, dateTime(c.claimed_at), dateTime(c.revocable_until),
    stateOf(c), revocable(c) ? revokeButton(path, site, c.email) : (c.status === 'active' ? 'Window closed' : '—')],
  { 'data-claim': c.email, 'data-status': c.status });
  const section = h('section', { 'aria-labelledby': 'claims-title' }, h('h2', { id: 'claims-title' }, 'Claims'),
    h('p', { class: 'hint' }, 'People who made themselves users of this site with a serial and order number of its orders. '
      + 'Until its window closes a claim can be revoked: the claimant loses access and may not claim the site again. '
      + 'After that, remove the member instead.'));
  if (first.claims.length) {
    const tbl = table(`Claims of ${site}`, columns, first.claims.map(row), { id: 'claims', class: 'data' });
    section.append(tbl);
    section.append(moreRows('Show more claims', { tbl, path, key: 'claims', row, cursor: first.next_cursor }));
  } else {
    section.append(h('p', { class: 'empty' }, 'Nobody has claimed this site with a serial and order number.'));
  }
  section.append(...windowForm(site, first.claim_revocation_days));
  return section;
}

function stateOf(c) {
  if (c.status === 'revoked') {
    return h('span', { class: 'state state-rejected' }, `Revoked ${dateTime(c.revoked_at)}${c.revoked_by ? ` by ${c.revoked_by}` : ''}`);
  }
  return h('span', { class: 'status status-active' }, 'Active');
}

function revokeButton(path, site, email) {
  return deleteButton({
    label: 'Revoke',
    ariaLabel: `Revoke the claim of ${email}`,
    confirm: `Revoke ${email}'s claim of ${site}? They lose access to its products and may not claim it again.`,
    path: `${path}/${encodeURIComponent(email)}`,
    notice: `The claim of ${email} was revoked; they are no longer a member of ${site}.`,
  });
}

/**
 * The site's window (the claims list answers it: the site's own or the default); each
 * claim's "Revocable until" shows the window it got.
 */
function windowForm(site, current) {
  const hint = h('p', { class: 'hint', id: 'claim-window-hint' }, `A claim can be revoked for 0 to ${MAX_WINDOW_DAYS} days after it is made; `
    + `${DEFAULT_WINDOW_DAYS} unless this site changed it. With 0 no claim can be revoked. A new window applies to the claims made after it.`);
  const days = h('input', { id: 'claim-window-days', type: 'number', min: '0', max: String(MAX_WINDOW_DAYS), step: '1', required: true,
    inputmode: 'numeric', 'aria-describedby': 'claim-window-hint', value: Number.isInteger(current) ? String(current) : '' });
  const save = h('button', { type: 'submit' }, 'Save window');
  const form = h('form', { class: 'inline', id: 'claim-window-form' },
    h('div', { class: 'field' }, h('label', { for: 'claim-window-days' }, 'Claims can be revoked for (days)'), days), save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const set = await api(`/v1/sites/${encodeURIComponent(site)}/claim-window`, { method: 'PUT', body: { claim_revocation_days: Number(days.value) } });
      const n = set.claim_revocation_days;
      state.pendingNotice = n === 0
        ? `New claims of ${site} cannot be revoked.`
        : `New claims of ${site} can be revoked for ${n} ${n === 1 ? 'day' : 'days'}.`;
      state.render('notice');
    } catch (err) {
      save.disabled = false;
      showFailure(err);
    }
  });
  return [hint, form];
}
