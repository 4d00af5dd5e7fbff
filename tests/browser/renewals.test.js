// The "Renewals" tab (issue 20, part 1) in headless Chromium against the local stack with
// the worked example seeded (scripts/test-browser.sh): the counts at a glance are the sums of
// the radar's pages, the list is the API's walk soonest first, and the CSV export is that list.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { browserSuite, signIn, go, screenshot, assertAccessible, tokenFor, walk, csvOf } from './harness.js';

const { withPage } = browserSuite();

const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
const COLUMNS = ['site', 'site_name', 'serial', 'sku', 'product', 'quantity', 'starts_on', 'ends_on', 'days_left', 'status', 'order_id', 'access'];

test('the Renewals tab lists what mary can see that ends within a year, as the API walks it', async () => {
  const token = await tokenFor('mary@skynet.example');
  const sites = await walk(token, '/v1/renewals', 'sites', { within_days: 365, limit: 2 });
  const want = sites.flatMap((s) => s.entitlements.map((e) => ({ site: s, e })))
    .sort((a, b) => (a.e.ends_on === b.e.ends_on ? (a.e.serial < b.e.serial ? -1 : 1) : a.e.ends_on < b.e.ends_on ? -1 : 1));
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    await go(page, '#/renewals?within_days=365');
    assert.equal(await page.locator('#nav-renewals').getAttribute('aria-current'), 'page');
    assert.equal(await page.locator('#renewals-window').inputValue(), '365');
    const shown = await page.locator('#renewals-table tbody tr').evaluateAll((rows) => rows.map((r) => [r.dataset.site, r.dataset.serial]));
    assert.deepEqual(shown, want.map(({ site, e }) => [site.support_id, e.serial]));
    const within = (d) => String(want.filter(({ e }) => e.days_left <= d).length);
    assert.equal(await page.locator('#count-30 .count-value').textContent(), within(30));
    assert.equal(await page.locator('#count-90 .count-value').textContent(), within(90));
    await assertAccessible(page, 'renewals');
    await screenshot(page, '30-renewals');
  });
});

test('Renewals: the counts add up over pages, the window picker goes to the URL, the export is the list', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const entry = (serial, offset, status = 'active') => ({ serial, sku: 'K', product: `P ${serial}`, quantity: 1, starts_on: '2020-01-01',
      ends_on: day(offset), status, order_id: 'O-1', access: ['member'], days_left: offset });
    const counts = (a, b, c, t) => ({ within_30: a, within_60: b, within_90: c, total: t });
    const pagesOf = {
      first: { window: { from: day(0), until: day(90), within_days: 90 }, counts: counts(1, 2, 2, 2), next_cursor: 'c2',
        sites: [{ support_id: 'B-1', name: '=B site', counts: counts(1, 1, 1, 1), entitlements: [entry('X2', 5)] },
          { support_id: 'A-1', name: 'A site', counts: counts(0, 1, 1, 1), entitlements: [entry('X4', 45)] }] },
      second: { window: { from: day(0), until: day(90), within_days: 90 }, counts: counts(1, 1, 2, 2), next_cursor: null,
        sites: [{ support_id: 'A-1', name: 'A site', counts: counts(1, 1, 2, 2), entitlements: [entry('X1', 5), entry('X9', 80)] }] },
    };
    const asked = [];
    await page.route((url) => url.pathname === '/v1/renewals', (route) => {
      const url = new URL(route.request().url());
      asked.push(Object.fromEntries(url.searchParams));
      const body = url.searchParams.get('cursor') === 'c2' ? pagesOf.second : pagesOf.first;
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    await go(page, '#/renewals');
    assert.deepEqual(asked.map((q) => [q.within_days, q.limit, q.cursor]), [['90', '500', undefined], ['90', '500', 'c2']]);
    assert.equal(await page.locator('#count-30 .count-value').textContent(), '2');
    assert.equal(await page.locator('#count-60 .count-value').textContent(), '3');
    assert.equal(await page.locator('#count-90 .count-value').textContent(), '4');
    const serials = await page.locator('#renewals-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.serial));
    assert.deepEqual(serials, ['X1', 'X2', 'X4', 'X9'], 'soonest first, ties by serial, across pages and sites');
    assert.match(await page.locator('#renewals-table tr[data-serial="X1"]').textContent(), /ending soon/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#renewals-export').click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    const row = (site, name, e) => [site, name, e.serial, e.sku, e.product, e.quantity, e.starts_on, e.ends_on, e.days_left, e.status, e.order_id, e.access];
    assert.equal(csv, csvOf([COLUMNS,
      row('A-1', 'A site', entry('X1', 5)), row('B-1', '=B site', entry('X2', 5)), row('A-1', 'A site', entry('X4', 45)), row('A-1', 'A site', entry('X9', 80))]));
    assert.match(csv, /'=B site/, 'a formula-like cell is neutralised');

    await page.locator('#renewals-window').selectOption('30');
    await page.waitForFunction(() => window.location.hash === '#/renewals?within_days=30');
  });
});
