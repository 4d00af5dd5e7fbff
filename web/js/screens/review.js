// A site's access review (issue 21): how often (PUT /v1/sites/{s}/review-schedule), and each
// member to confirm or remove in the round under way (GET/POST /v1/sites/{s}/review).

import { h, table, tableRow } from '../dom.js';
import { api } from '../api.js';
import { dateTime } from '../format.js';
import { state, showFailure, ROLE_WORDS } from '../ui.js';

export async function reviewSection(site) {
  const base = `/v1/sites/${encodeURIComponent(site)}`;
  const review = await api(`${base}/review`);
  const section = h('section', { 'aria-labelledby': 'review-title' }, h('h2', { id: 'review-title' }, 'Access review'),
    h('p', { class: 'hint', id: 'review-hint' }, review.every_days
      ? `Every ${review.every_days} days. This review is due ${dateTime(review.due_at)}: members not confirmed by then keep access for one more week, then lose it.`
      : 'No access reviews: members keep access until removed or until their end date.'));
  const days = h('input', { id: 'review-days', type: 'number', min: '1', max: '730', value: review.every_days ?? '', 'aria-describedby': 'review-hint' });
  const save = h('button', { type: 'submit' }, 'Save');
  const form = h('form', { class: 'inline', id: 'review-form' },
    h('div', { class: 'field' }, h('label', { for: 'review-days' }, 'Review every (days; empty: never)'), days), save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const every = days.value ? Number(days.value) : null;
      const s = await api(`${base}/review-schedule`, { method: 'PUT', body: { every_days: every } });
      state.pendingNotice = s.every_days ? `${site} is reviewed every ${s.every_days} days; the first review is due ${dateTime(s.due_at)}.` : `${site} has no access reviews now.`;
      state.render('notice');
    } catch (err) {
      save.disabled = false;
      showFailure(err);
    }
  });
  section.append(form);
  if (review.every_days) {
    const columns = ['E-mail', 'Role', 'Confirmed', 'Decision'];
    section.append(table(`Members of ${site} to review`, columns, review.members.map((m) => tableRow(columns, [
      m.email, ROLE_WORDS[m.role] || m.role, m.confirmed_at ? `${dateTime(m.confirmed_at)} by ${m.confirmed_by}` : 'Not yet',
      m.confirmed_at ? '—' : h('span', {}, decide(base, site, m.email, 'confirm', 'Confirm'), ' ', decide(base, site, m.email, 'remove', 'Remove')),
    ], { 'data-review': m.email })), { id: 'review', class: 'data' }));
  }
  return section;
}

function decide(base, site, email, action, label) {
  const button = h('button', { type: 'button', class: action === 'remove' ? 'danger' : '', 'aria-label': `${label} ${email}` }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api(`${base}/review/${encodeURIComponent(email)}`, { method: 'POST', body: { action } });
      state.pendingNotice = action === 'confirm' ? `${email} is confirmed in the review of ${site}.` : `${email} was removed from ${site}.`;
      state.render('notice');
    } catch (e) {
      button.disabled = false;
      showFailure(e);
    }
  });
  return button;
}
