// Renewals: what the caller can see that ends within a window (GET /v1/renewals), soonest
// first — the counts at 30 / 60 / 90 days at a glance, the list with the site of each
// entitlement, and a CSV export of the whole window. The radar's counts are per page, so
// this screen walks every page (500 at a time) and adds them up.

import { h, replace, table, tableRow, count } from '../dom.js';
import { pages } from '../api.js';
import { date, endsHint, urgency } from '../format.js';
import { row, PAGE_LIMIT } from '../csv.js';
import { main, setTitle, navigate, siteHash, accessList, STATUS_WORDS } from '../ui.js';

/** The windows the page offers (days); the API takes 1-365. */
export const WINDOWS = [30, 60, 90, 180, 365];
const DEFAULT_WINDOW = 90;
/** The CSV columns of a renewals export: the entitlement export's, with the days left. */
export const RENEWAL_COLUMNS = ['site', 'site_name', 'serial', 'sku', 'product', 'quantity', 'starts_on', 'ends_on', 'days_left', 'status', 'order_id', 'access'];

let lastDownloadUrl = null;

/** The window asked for in the URL (#/renewals?within_days=N), or the default. */
export function windowOf(params) {
  const n = Number(params.get('within_days'));
  return Number.isInteger(n) && n >= 1 && n <= 365 ? n : DEFAULT_WINDOW;
}

/** Every page of the radar, flattened: [{site: {support_id, name}, e}] soonest first, and the summed counts. */
export async function walkRenewals(withinDays, { signal } = {}) {
  const rows = [];
  const totals = { within_30: 0, within_60: 0, within_90: 0, total: 0 };
  let window = null;
  for await (const page of pages('/v1/renewals', { within_days: withinDays, limit: PAGE_LIMIT }, { signal })) {
    window = page.window;
    for (const key of Object.keys(totals)) totals[key] += page.counts[key];
    for (const site of page.sites) {
      for (const e of site.entitlements) rows.push({ site: { support_id: site.support_id, name: site.name }, e });
    }
  }
  // Each page is grouped per site; the list is soonest first, ties by serial.
  rows.sort((a, b) => (a.e.ends_on < b.e.ends_on ? -1 : a.e.ends_on > b.e.ends_on ? 1 : a.e.serial < b.e.serial ? -1 : a.e.serial > b.e.serial ? 1 : 0));
  return { rows, totals, window };
}

/** The CSV file of a walk (RFC 4180 through csv.js, formula-safe). */
export function renewalsCsv(rows) {
  const parts = [row(RENEWAL_COLUMNS)];
  for (const { site, e } of rows) {
    parts.push(row([site.support_id, site.name, e.serial, e.sku, e.product, e.quantity, e.starts_on, e.ends_on, e.days_left, e.status, e.order_id, e.access]));
  }
  return new Blob(parts, { type: 'text/csv;charset=utf-8' });
}

function countCard(id, label, value) {
  return h('div', { class: 'count-card', id },
    h('span', { class: 'count-value' }, count(value)),
    h('span', { class: 'count-label' }, label));
}

export async function renewalsView({ params, current }) {
  const withinDays = windowOf(params);
  const { rows, totals, window } = await walkRenewals(withinDays);
  if (!current()) return;
  setTitle('Renewals');
  const picker = h('select', { id: 'renewals-window', name: 'within_days' },
    WINDOWS.map((d) => h('option', { value: String(d), selected: d === withinDays }, `Next ${d} days`)));
  picker.addEventListener('change', () => navigate(`#/renewals?within_days=${picker.value}`));
  const cards = h('div', { class: 'counts', id: 'renewal-counts', role: 'group', 'aria-label': 'Renewals at a glance' },
    countCard('count-30', 'End within 30 days', totals.within_30),
    countCard('count-60', 'End within 60 days', totals.within_60),
    countCard('count-90', 'End within 90 days', totals.within_90));
  const content = [
    h('h1', {}, 'Renewals'),
    h('p', { class: 'intro' },
      'Everything you can see that ends soon, soonest first',
      window ? ` (${date(window.from)} to ${date(window.until)})` : '', '.'),
    h('div', { class: 'field' }, h('label', { for: 'renewals-window' }, 'Show'), picker),
    cards,
  ];
  const exportButton = h('button', { type: 'button', class: 'secondary', id: 'renewals-export' }, 'Export these renewals (CSV)');
  const exportStatus = h('p', { id: 'renewals-export-status', role: 'status' });
  exportButton.addEventListener('click', () => {
    if (lastDownloadUrl) URL.revokeObjectURL(lastDownloadUrl);
    lastDownloadUrl = URL.createObjectURL(renewalsCsv(rows));
    const day = new Date().toISOString().slice(0, 10);
    const name = `abev-renewals-${withinDays}d-${day}.csv`;
    exportStatus.textContent = `Export ready: ${count(rows.length)} entitlement${rows.length === 1 ? '' : 's'}.`;
    const link = h('a', { href: lastDownloadUrl, download: name, id: 'renewals-download' }, `Download ${name}`);
    exportStatus.append(' ', link);
    link.click();
  });
  content.push(h('section', { class: 'export', 'aria-label': 'Export' }, exportButton, exportStatus));
  content.push(h('p', { class: 'shown', id: 'shown' },
    `${count(totals.total)} entitlement${totals.total === 1 ? '' : 's'} end within ${withinDays} days.`));
  if (!rows.length) {
    content.push(h('p', { class: 'empty' }, `Nothing you can see ends within ${withinDays} days.`));
    replace(main, ...content);
    return;
  }
  const columns = ['Ends on', 'Serial', 'Product', 'Account site', 'Status', 'Order', 'Why you see it'];
  const tableRows = rows.map(({ site, e }) => {
    const mark = urgency(e);
    return tableRow(columns, [
      [h('time', { datetime: e.ends_on }, date(e.ends_on)), h('span', { class: 'when' }, endsHint(e.ends_on))],
      h('a', { href: `#/entitlements/${encodeURIComponent(e.serial)}` }, e.serial),
      `${e.product} (${e.sku})`,
      h('a', { href: siteHash(site.support_id) }, site.name || site.support_id),
      h('span', { class: `status status-${e.status}` }, STATUS_WORDS[e.status] || e.status, mark === 'expiring' ? ' (ending soon)' : ''),
      e.order_id,
      accessList(e.access),
    ], { 'data-serial': e.serial, 'data-site': site.support_id, 'data-days-left': String(e.days_left), class: mark ? `row-${mark}` : undefined });
  });
  content.push(table(`Entitlements ending within ${withinDays} days`, columns, tableRows, { id: 'renewals-table', class: 'data' }));
  replace(main, ...content);
}
