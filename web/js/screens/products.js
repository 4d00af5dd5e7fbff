// My Products: the account sites of the caller's view, sortable by site and by number of
// entitlements, with a filter box over the loaded sites and the "go to a serial" box. An
// empty view says why: in rollout waves, the caller's sites may be waiting for rollout.

import { h, replace, table, tableRow, count } from '../dom.js';
import { api, withQuery } from '../api.js';
import { sortable } from '../sort.js';
import { main, setTitle, navigate, siteHash, accessList, moreButton } from '../ui.js';
import { exportPanel } from './export.js';

/** Sites per page of My Products (the API's largest page: a reseller's 500 sites at once). */
const SITES_PAGE = 500;

/** Invitations are accepted by the access API's GET /v1/sites (issue 21): once per page load. */
let invitationsChecked = false;

export async function productsView({ current }) {
  if (!invitationsChecked) {
    invitationsChecked = true;
    await api(withQuery('/v1/sites', { limit: 1 })).catch(() => null);
  }
  const first = await api(withQuery('/v1/view', { limit: SITES_PAGE }));
  // Only an empty view needs /v1/me: to tell "waiting for rollout" from "no access".
  const me = first.sites.length ? null : await api('/v1/me').catch(() => null);
  if (!current()) return;
  setTitle('My Products');
  const columns = ['Account site', 'Support ID', 'Entitlements', 'Why you see it'];
  const siteRow = (s) => {
    const tr = tableRow(columns, [
      h('a', { href: siteHash(s.support_id) }, s.name || s.support_id),
      s.support_id,
      count(s.entitlement_count),
      accessList(s.access),
    ], { 'data-site': s.support_id, 'data-filter': `${s.name || ''} ${s.support_id}`.toLowerCase() });
    tr.cells[2].dataset.sort = String(s.entitlement_count);
    return tr;
  };
  const content = [
    h('h1', {}, 'My Products'),
    h('p', { class: 'intro' }, 'The account sites whose products you can see, with the number of entitlements under each and why you see them.'),
    findSerialForm(),
  ];
  if (!first.sites.length) {
    content.push(emptyView(me));
    replace(main, ...content);
    return;
  }
  const tbl = table('Account sites in your view', columns, first.sites.map(siteRow), { id: 'sites-table', class: 'data' });
  const tbody = tbl.querySelector('tbody');
  const sorter = sortable(tbl, [0, 2]);
  const filter = siteFilter(tbl);
  let cursor = first.next_cursor;
  content.push(exportPanel(null, 'Export all entitlements (CSV)'), filter.form, tbl);
  if (cursor) {
    content.push(moreButton('Show more sites', async () => {
      const page = await api(withQuery('/v1/view', { limit: SITES_PAGE, cursor }));
      page.sites.forEach((s) => tbody.append(siteRow(s)));
      sorter.resort();
      filter.apply();
      cursor = page.next_cursor;
      return Boolean(cursor);
    }));
  }
  replace(main, ...content);
}

function emptyView(me) {
  const waiting = me && me.rollout && me.rollout.mode === 'waves' ? Number(me.rollout.waiting_sites || 0) : 0;
  if (waiting > 0) {
    return h('p', { class: 'empty', id: 'empty-view', 'data-reason': 'rollout' },
      `Your ${waiting === 1 ? 'account site is' : `${count(waiting)} account sites are`} waiting for rollout: this portal is being switched on site by site, and yours will appear here once Customer Care enables ${waiting === 1 ? 'it' : 'them'}. Nothing needs to be requested.`);
  }
  return h('p', { class: 'empty', id: 'empty-view', 'data-reason': 'none' },
    'You have no products to show yet. If your organisation owns products, ask for access to its account site under ',
    h('a', { href: '#/manage' }, 'Site Management'), '.');
}

/** A filter box over the loaded sites (name or Support ID), with a live count. */
function siteFilter(tbl) {
  const input = h('input', { id: 'site-filter', name: 'filter', type: 'search', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'site-filter-count' });
  const shown = h('p', { id: 'site-filter-count', class: 'shown', role: 'status' });
  const apply = () => {
    const needle = input.value.trim().toLowerCase();
    const rows = [...tbl.tBodies[0].rows];
    let visible = 0;
    for (const tr of rows) {
      tr.hidden = Boolean(needle) && !tr.dataset.filter.includes(needle);
      if (!tr.hidden) visible += 1;
    }
    shown.textContent = needle ? `Showing ${count(visible)} of ${count(rows.length)} account sites.` : '';
  };
  input.addEventListener('input', apply);
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Filter account sites', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field' }, h('label', { for: 'site-filter' }, 'Filter account sites'), input), shown);
  return { form, apply };
}

function findSerialForm() {
  const input = h('input', { id: 'find-serial', name: 'serial', type: 'search', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Find a serial number' },
    h('div', { class: 'field' }, h('label', { for: 'find-serial' }, 'Go to a serial number'), input),
    h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const serial = input.value.trim();
    if (serial) navigate(`#/entitlements/${encodeURIComponent(serial)}`);
  });
  return form;
}
