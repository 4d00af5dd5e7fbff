// What every browser test shares: Debian's Chromium through playwright-core, the local
// stack's base URL (ABEV_WEB_URL, set by scripts/test-browser.sh), sign-in through the
// page, direct API calls for comparison, axe-core, and screenshots under target/.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const screenshots = path.join(root, 'target', 'screenshots');
mkdirSync(screenshots, { recursive: true });

export const BASE = (process.env.ABEV_WEB_URL || '').replace(/\/+$/, '');
if (!BASE) throw new Error('ABEV_WEB_URL is not set: run scripts/test-browser.sh');

export const expectedViews = JSON.parse(readFileSync(path.join(root, 'tests/fixtures/worked-example/expected-views.json'), 'utf8'));

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A fresh browser context and page (its own memory, so its own session), with every
 * uncaught page error and Content-Security-Policy violation collected in `problems`.
 */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 }, ...options });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Uncaught|TypeError|ReferenceError|SyntaxError/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept());
  return { context, page, problems };
}

/**
 * One browser per test file (launched before its tests, closed after them) and `withPage`:
 * `fn(page, context)` in a fresh context and page, closed whatever happens. A failure says
 * what the page showed and the problems it collected; a test whose page had script errors or
 * Content-Security-Policy violations fails. `browser()` is the browser itself, for a test that
 * opens contexts of its own.
 */
export function browserSuite() {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });
  async function withPage(fn, options) {
    const { context, page, problems } = await openPage(browser, options);
    try {
      await fn(page, context).catch(async (e) => {
        const shown = await page.locator('main').textContent().catch(() => '');
        e.message += `\npage: ${shown.slice(0, 600)}\nproblems: ${JSON.stringify(problems)}`;
        throw e;
      });
      assert.deepEqual(problems, [], 'no script errors and no Content-Security-Policy violations');
    } finally {
      await context.close();
    }
  }
  return { withPage, browser: () => browser };
}

/** The number of the render the page shows now (main[data-render]). */
export async function renderCount(page) {
  return Number((await page.locator('main').getAttribute('data-render')) || 0);
}

/** Waits until the page has finished a render after render number `n`. */
export async function rendered(page, n) {
  await page.waitForFunction((after) => Number(document.querySelector('main').dataset.render || 0) > after, n);
}

/** Signs in through the page's local sign-in form and waits for the first screen. */
export async function signIn(page, email, { care = false, hash = '#/products' } = {}) {
  if (!page.url().startsWith(BASE)) await page.goto(`${BASE}/${hash}`);
  await page.locator('#signin-email').fill(email);
  if (care) await page.locator('#signin-care').check();
  const n = await renderCount(page);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await rendered(page, n);
  await page.locator('#nav').waitFor({ state: 'visible' });
}

/** Goes to a hash route of the signed-in page and waits until it has rendered. */
export async function go(page, hash) {
  const n = await renderCount(page);
  await page.evaluate((h) => {
    if (window.location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else window.location.hash = h;
  }, hash);
  await rendered(page, n);
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

/** A local token for direct API calls, from the same local sign-in the page uses. */
export async function tokenFor(email, care = false) {
  const r = await fetch(`${BASE}/local/sign-in`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, care }) });
  assert.equal(r.status, 200, `local sign-in for ${email}`);
  return (await r.json()).token;
}

export async function apiAs(token, pathAndQuery, init = {}) {
  const r = await fetch(`${BASE}${pathAndQuery}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(init.headers || {}) },
  });
  const body = r.status === 204 ? null : await r.json();
  return { status: r.status, body };
}

/** Every page of a list, through the API directly. */
export async function walk(token, p, key, params = {}) {
  const out = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ ...params, ...(cursor ? { cursor } : {}) });
    const { status, body } = await apiAs(token, `${p}?${q}`);
    assert.equal(status, 200, `${p}: ${JSON.stringify(body)}`);
    out.push(...body[key]);
    cursor = body.next_cursor;
  } while (cursor);
  return out;
}

/** axe-core on the current screen: no serious or critical violation. */
export async function assertAccessible(page, screen) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
  assert.deepEqual(report, [], `axe on ${screen}`);
  return results.violations.length;
}

/** The view the page shows: {SITE: {SERIAL: [access...]}} read off its tables. */
export async function viewShownBy(page) {
  await go(page, '#/products');
  const sites = await page.locator('#sites-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.site));
  const view = {};
  for (const site of sites) {
    await go(page, `#/products/${site}`);
    const rows = await page.locator('#entitlements-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
      serial: tr.dataset.serial,
      access: [...tr.querySelectorAll('[data-access]')].map((li) => li.dataset.access),
    })));
    view[site] = Object.fromEntries(rows.map((r) => [r.serial, r.access]));
  }
  return view;
}

/** An independent RFC 4180 encoder for the expected export (formula cells neutralised with '). */
export function csvOf(rows) {
  const field = (v) => {
    const raw = Array.isArray(v) ? v.join(' ') : v === null || v === undefined ? '' : String(v);
    const s = ['=', '+', '-', '@', '\t', '\r'].includes(raw.charAt(0)) ? `'${raw}` : raw;
    return /[",\r\n]/.test(s) ? `"${s.split('"').join('""')}"` : s;
  };
  return rows.map((r) => `${r.map(field).join(',')}\r\n`).join('');
}
