// A site's invitations (issue 21): invite an e-mail address with a role (and an end date for
// contractors); the invitee becomes a member when they next sign in with that address,
// within 14 days (GET/POST/DELETE /v1/sites/{s}/invitations).

import { h, table, tableRow } from '../dom.js';
import { api, withQuery } from '../api.js';
import { dateTime } from '../format.js';
import { state, showFailure, ROLE_WORDS, deleteButton } from '../ui.js';

export async function invitationsSection(site) {
  const path = `/v1/sites/${encodeURIComponent(site)}/invitations`;
  const { invitations } = await api(withQuery(path, { limit: 100 }));
  const columns = ['E-mail', 'Role', 'Invited by', 'Expires', 'Membership ends', 'Withdraw'];
  const section = h('section', { 'aria-labelledby': 'invitations-title' }, h('h2', { id: 'invitations-title' }, 'Invitations'));
  if (invitations.length) {
    section.append(table(`Invitations to ${site}`, columns, invitations.map((i) => tableRow(columns, [
      i.email, ROLE_WORDS[i.role] || i.role, i.invited_by, i.expired ? `Expired ${dateTime(i.expires_at)}` : dateTime(i.expires_at),
      i.ends_at ? dateTime(i.ends_at) : '—', withdrawButton(path, i.email),
    ], { 'data-invitation': i.email })), { id: 'invitations', class: 'data' }));
  } else {
    section.append(h('p', { class: 'empty' }, 'No invitations are waiting.'));
  }
  const email = h('input', { id: 'invite-email', name: 'email', type: 'email', required: true, maxlength: '254', autocomplete: 'off' });
  const role = h('select', { id: 'invite-role', name: 'role' },
    h('option', { value: 'user' }, ROLE_WORDS.user), h('option', { value: 'admin' }, ROLE_WORDS.admin));
  const ends = h('input', { id: 'invite-ends', name: 'ends_at', type: 'date', 'aria-describedby': 'invite-ends-hint' });
  const submit = h('button', { type: 'submit' }, 'Invite');
  const form = h('form', { class: 'request', id: 'invite-form' },
    h('div', { class: 'field' }, h('label', { for: 'invite-email' }, 'E-mail address'), email),
    h('div', { class: 'field' }, h('label', { for: 'invite-role' }, 'Role'), role),
    h('div', { class: 'field' }, h('label', { for: 'invite-ends' }, 'Membership ends (optional)'), ends,
      h('p', { class: 'hint', id: 'invite-ends-hint' }, 'For contractors: the membership ends at the start of that day (UTC).')),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const body = { email: email.value.trim(), role: role.value };
      if (ends.value) body.ends_at = `${ends.value}T00:00:00Z`;
      const inv = await api(path, { method: 'POST', body });
      state.pendingNotice = `${inv.email} is invited to ${site} until ${dateTime(inv.expires_at)}; they become a member when they next sign in with that address.`;
      state.render('notice');
    } catch (err) {
      submit.disabled = false;
      showFailure(err);
    }
  });
  section.append(form);
  return section;
}

function withdrawButton(path, email) {
  return deleteButton({
    label: 'Withdraw',
    ariaLabel: `Withdraw the invitation of ${email}`,
    path: `${path}/${encodeURIComponent(email)}`,
    notice: `The invitation of ${email} was withdrawn.`,
  });
}
