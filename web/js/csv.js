// CSV export (RFC 4180): a header row, CRLF line ends, fields quoted when they hold a
// comma, a quote, CR or LF (quotes doubled). A cell that starts with =, +, -, @, tab or CR
// gets a leading ' so no spreadsheet runs it as a formula (OWASP "CSV injection"). The file is built from one string per API
// page handed to a Blob, so 100,000 rows never become one string or touch the DOM.

import { pages } from './api.js';

export const COLUMNS = ['site', 'serial', 'sku', 'product', 'quantity', 'starts_on', 'ends_on', 'status', 'order_id', 'access'];
export const PAGE_LIMIT = 500;

export function field(value) {
  const raw = value === null || value === undefined ? '' : Array.isArray(value) ? value.join(' ') : String(value);
  const s = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function row(values) {
  return `${values.map(field).join(',')}\r\n`;
}

export function entitlementRow(siteId, e) {
  return row([siteId, e.serial, e.sku, e.product, e.quantity, e.starts_on, e.ends_on, e.status, e.order_id, e.access]);
}

/**
 * Walks the API and builds the CSV of every entitlement of `siteIds` (all sites of the
 * caller's view when null). `onProgress({sites, sitesDone, rows})` is called after each
 * page; `signal` cancels. Resolves to {blob, rows, sites}.
 */
export async function exportCsv({ siteIds = null, signal, onProgress = () => {} } = {}) {
  let sites = siteIds;
  if (!sites) {
    sites = [];
    for await (const page of pages('/v1/view', { limit: PAGE_LIMIT }, { signal })) {
      for (const s of page.sites) sites.push(s.support_id);
      onProgress({ sites: null, sitesDone: 0, rows: 0, listed: sites.length });
    }
  }
  const parts = [row(COLUMNS)];
  let rows = 0;
  let sitesDone = 0;
  for (const site of sites) {
    const path = `/v1/view/sites/${encodeURIComponent(site)}/entitlements`;
    for await (const page of pages(path, { limit: PAGE_LIMIT }, { signal })) {
      const siteId = page.site ? page.site.support_id : site;
      let chunk = '';
      for (const e of page.entitlements) chunk += entitlementRow(siteId, e);
      parts.push(chunk);
      rows += page.entitlements.length;
      onProgress({ sites: sites.length, sitesDone, rows });
    }
    sitesDone += 1;
    onProgress({ sites: sites.length, sitesDone, rows });
  }
  return { blob: new Blob(parts, { type: 'text/csv;charset=utf-8' }), rows, sites: sites.length };
}

/** The file name of an export: abev-entitlements[-SITE]-YYYY-MM-DD.csv */
export function fileName(siteId) {
  const day = new Date().toISOString().slice(0, 10);
  return `abev-entitlements${siteId ? `-${siteId}` : ''}-${day}.csv`;
}
