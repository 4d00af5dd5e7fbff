// A site's entitlements: filters in the URL (search, status, ends before) sent to the API,
// columns sortable by serial, ends on and status, dates in the browser's locale with a
// relative hint, and expiring (within 30 days) and expired rows marked in words and colour.

import { h, replace, table, tableRow, count } from '../dom.js';
import { api, withQuery } from '../api.js';
import { date, endsHint, urgency } from '../format.js';
import { sortable } from '../sort.js';
import { main, setTitle, navigate, crumbs, siteHash, accessList, moreButton, STATUS_WORDS } from '../ui.js';
import { exportPanel } from './export.js';

/** Status order for sorting: what needs attention first. */
const STATUS_ORDER = { expired: 0, active: 1, upcoming: 2 };

function dateCell(iso, hint = '') {
  return [h('time', { datetime: iso }, date(iso)), hint ? h('span', { class: 'when' }, hint) : ''];
}

export async function siteView({ site, params, current }) {
  const filters = { q: params.get('q') || '', status: params.get('status') || '', ends_before: params.get('ends_before') || '' };
  const path = `/v1/view/sites/${encodeURIComponent(site)}/entitlements`;
  const first = await api(withQuery(path, { ...filters, limit: 100 }));
  if (!current()) return;
  const name = first.site.name || first.site.support_id;
  const id = first.site.support_id;
  setTitle(`${name} · My Products`);
  const columns = ['Serial', 'SKU', 'Product', 'Quantity', 'Starts on', 'Ends on', 'Status', 'Order', 'Why you see it'];
  const row = (e) => {
    const mark = urgency(e);
    const tr = tableRow(columns, [
      h('a', { href: `#/entitlements/${encodeURIComponent(e.serial)}` }, e.serial),
      e.sku, e.product, count(e.quantity), dateCell(e.starts_on), dateCell(e.ends_on, e.status === 'upcoming' ? '' : endsHint(e.ends_on)),
      h('span', { class: `status status-${e.status}` }, STATUS_WORDS[e.status] || e.status, mark === 'expiring' ? ' (ending soon)' : ''),
      e.order_id, accessList(e.access),
    ], { 'data-serial': e.serial, 'data-urgency': mark || undefined, class: mark ? `row-${mark}` : undefined });
    tr.cells[3].dataset.sort = String(e.quantity);
    tr.cells[4].dataset.sort = e.starts_on;
    tr.cells[5].dataset.sort = e.ends_on;
    tr.cells[6].dataset.sort = String(STATUS_ORDER[e.status] ?? 9);
    return tr;
  };
  const filtered = Boolean(filters.q || filters.status || filters.ends_before);
  let shown = first.entitlements.length;
  const shownText = h('p', { class: 'shown', id: 'shown' });
  let cursor = first.next_cursor;
  const updateShown = () => {
    shownText.textContent = `Showing ${count(shown)} entitlement${shown === 1 ? '' : 's'}${cursor ? ' (more below)' : ''}${filtered ? ' matching the filters' : ''}.`;
  };
  updateShown();
  const content = [
    crumbs(['My Products', '#/products'], [name]),
    h('h1', {}, `${name} `, h('span', { class: 'muted' }, `(${id})`)),
    filterForm(id, filters),
    exportPanel([id], 'Export this site (CSV)'),
    shownText,
  ];
  if (!first.entitlements.length) {
    content.push(h('p', { class: 'empty' }, filtered ? 'No entitlements match these filters.' : 'No entitlements to show.'));
    replace(main, ...content);
    return;
  }
  const tbl = table(`Entitlements of ${name}`, columns, first.entitlements.map(row), { id: 'entitlements-table', class: 'data' });
  const sorter = sortable(tbl, [0, 5, 6]);
  const tbody = tbl.querySelector('tbody');
  content.push(tbl);
  if (cursor) {
    content.push(moreButton('Show more entitlements', async () => {
      const page = await api(withQuery(path, { ...filters, limit: 100, cursor }));
      page.entitlements.forEach((e) => tbody.append(row(e)));
      sorter.resort();
      shown += page.entitlements.length;
      cursor = page.next_cursor;
      updateShown();
      return Boolean(cursor);
    }));
  }
  replace(main, ...content);
}

function filterForm(site, filters) {
  const q = h('input', { id: 'filter-q', name: 'q', type: 'search', value: filters.q, maxlength: '200', autocomplete: 'off' });
  const status = h('select', { id: 'filter-status', name: 'status' },
    [['', 'Any status'], ['active', 'Active'], ['expired', 'Expired'], ['upcoming', 'Not started yet']]
      .map(([v, label]) => h('option', { value: v, selected: v === filters.status }, label)));
  const endsBefore = h('input', { id: 'filter-ends-before', name: 'ends_before', type: 'date', value: filters.ends_before });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter entitlements' },
    h('div', { class: 'field' }, h('label', { for: 'filter-q' }, 'Search serial, SKU or product'), q),
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'filter-ends-before' }, 'Ends before'), endsBefore),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: siteHash(site), class: 'button-like secondary' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('q', q.value.trim());
    if (status.value) p.set('status', status.value);
    if (endsBefore.value) p.set('ends_before', endsBefore.value);
    navigate(siteHash(site, p));
  });
  return form;
}
