// A site's members (site admins, Care) with Remove.

import { h, replace, table, tableRow } from '../dom.js';
import { api, withQuery } from '../api.js';
import { dateTime } from '../format.js';
import { main, state, showFailure, setTitle, crumbs, moreButton, ROLE_WORDS } from '../ui.js';

export { membersView };

async function membersView({ site, current }) {
  const path = `/v1/sites/${encodeURIComponent(site)}/members`;
  const first = await api(withQuery(path, { limit: 100 }));
  if (!current()) return;
  const id = String(site).toUpperCase();
  setTitle(`Members of ${id} · Site Management`);
  const columns = ['E-mail', 'Role', 'Member since', 'Remove'];
  const row = (m) => tableRow(columns, [m.email, ROLE_WORDS[m.role] || m.role, dateTime(m.since), removeButton(site, m.email)], { 'data-member': m.email });
  let cursor = first.next_cursor;
  const content = [crumbs(['Site Management', '#/manage'], [`Members of ${id}`]), h('h1', {}, `Members of ${id}`)];
  if (!first.members.length) {
    content.push(h('p', { class: 'empty' }, 'This site has no members.'));
  } else {
    const tbl = table(`Members of ${id}`, columns, first.members.map(row), { id: 'members', class: 'data' });
    content.push(tbl);
    if (cursor) {
      content.push(moreButton('Show more members', async () => {
        const page = await api(withQuery(path, { limit: 100, cursor }));
        page.members.forEach((m) => tbl.querySelector('tbody').append(row(m)));
        cursor = page.next_cursor;
        return Boolean(cursor);
      }));
    }
  }
  replace(main, ...content);
}

function removeButton(site, email) {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${email}` }, 'Remove');
  button.addEventListener('click', async () => {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Remove ${email} from ${site}? They lose access to its products.`)) return;
    button.disabled = true;
    try {
      await api(`/v1/sites/${encodeURIComponent(site)}/members/${encodeURIComponent(email)}`, { method: 'DELETE' });
      state.pendingNotice = `${email} was removed from ${site}.`;
      state.render('notice');
    } catch (e) {
      button.disabled = false;
      showFailure(e);
    }
  });
  return button;
}

