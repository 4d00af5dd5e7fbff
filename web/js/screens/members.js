// A site's administration page (site admins, Care): its members with Remove and their end
// dates, and (issue 21) its claims, domain rules, invitations, access review and history.

import { h, replace, table, tableRow } from '../dom.js';
import { api, withQuery } from '../api.js';
import { dateTime } from '../format.js';
import { main, state, showFailure, setTitle, crumbs, moreRows, ROLE_WORDS, deleteButton } from '../ui.js';
import { claimsSection } from './claims.js';
import { rulesSection } from './rules.js';
import { invitationsSection } from './invitations.js';
import { historySection } from './history.js';
import { reviewSection } from './review.js';

export { membersView };

async function membersView({ site, current }) {
  const path = `/v1/sites/${encodeURIComponent(site)}/members`;
  // One after another: the API's per-caller bucket refuses a burst of parallel requests that
  // race for it (ratelimit.rs), and each is a few milliseconds.
  const first = await api(withQuery(path, { limit: 100 }));
  const claims = await claimsSection(site);
  const rules = await rulesSection(site);
  const invitations = await invitationsSection(site);
  const review = await reviewSection(site);
  const history = await historySection(site);
  if (!current()) return;
  const id = String(site).toUpperCase();
  setTitle(`Members of ${id} · Site Management`);
  const columns = ['E-mail', 'Role', 'Member since', 'Ends', 'Remove'];
  const row = (m) => tableRow(columns, [m.email, ROLE_WORDS[m.role] || m.role, dateTime(m.since), endDateForm(site, m),
    removeButton(site, m.email)], { 'data-member': m.email });
  const content = [crumbs(['Site Management', '#/manage'], [`Members of ${id}`]), h('h1', {}, `Members of ${id}`)];
  if (!first.members.length) {
    content.push(h('p', { class: 'empty' }, 'This site has no members.'));
  } else {
    const tbl = table(`Members of ${id}`, columns, first.members.map(row), { id: 'members', class: 'data' });
    content.push(tbl);
    content.push(moreRows('Show more members', { tbl, path, key: 'members', row, cursor: first.next_cursor }));
  }
  content.push(claims, rules, invitations, review, history);
  replace(main, ...content);
}

/** A member's end date (issue 21): shown, set (a day, UTC) or cleared. */
function endDateForm(site, m) {
  const id = `ends-${m.email.replace(/[^a-z0-9]/gi, '-')}`;
  const day = h('input', { id, type: 'date', value: m.ends_at ? m.ends_at.slice(0, 10) : '' });
  const save = h('button', { type: 'submit' }, 'Save');
  const form = h('form', { class: 'inline', 'data-ends': m.email },
    h('label', { for: id, class: 'sr-only' }, `End date of ${m.email}`), day, save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const ends = day.value ? `${day.value}T00:00:00Z` : null;
      await api(`/v1/sites/${encodeURIComponent(site)}/members/${encodeURIComponent(m.email)}/end-date`, { method: 'PUT', body: { ends_at: ends } });
      state.pendingNotice = ends ? `${m.email}'s membership of ${site} ends on ${day.value}.` : `${m.email}'s membership of ${site} has no end date now.`;
      state.render('notice');
    } catch (err) {
      save.disabled = false;
      showFailure(err);
    }
  });
  return form;
}

function removeButton(site, email) {
  return deleteButton({
    label: 'Remove',
    ariaLabel: `Remove ${email}`,
    confirm: `Remove ${email} from ${site}? They lose access to its products.`,
    path: `/v1/sites/${encodeURIComponent(site)}/members/${encodeURIComponent(email)}`,
    notice: `${email} was removed from ${site}.`,
  });
}

