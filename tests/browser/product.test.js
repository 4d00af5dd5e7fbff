// Issue 19's page items and issue 18's page lows, in headless Chromium against the local
// stack (scripts/test-browser.sh): the session across reloads and tabs, silent renewal,
// sign-out at the provider, sorting, the sites filter, Intl in the browser's locale,
// expiring rows, the dark theme, keyboard-only sorting, the rollout empty state, the
// download button, CSV formula neutralisation, the OIDC callback's nonce and state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { browserSuite, BASE, signIn, go, screenshot, assertAccessible, renderCount, rendered } from './harness.js';

const { withPage } = browserSuite();

const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

test('the session survives a reload and a new tab, with nothing in localStorage and the refresh token encrypted', async () => {
  await withPage(async (page, context) => {
    await signIn(page, 'mary@skynet.example', { hash: '#/products/ACME-1' });
    await page.locator('#entitlements-table').waitFor();
    const renewals = [];
    context.on('request', (r) => { if (r.url().endsWith('/local/oidc/token')) renewals.push(new URLSearchParams(r.postData()).get('grant_type')); });
    await page.reload();
    await page.locator('#entitlements-table').waitFor();
    assert.equal(await page.locator('#who .email').textContent(), 'mary@skynet.example');
    assert.equal(new URL(page.url()).hash, '#/products/ACME-1', 'still where she was');
    const tab = await context.newPage();
    await tab.goto(`${BASE}/#/manage`);
    await tab.locator('#request-form').waitFor();
    assert.equal(await tab.locator('#who .email').textContent(), 'mary@skynet.example');
    assert.deepEqual(renewals, ['refresh_token', 'refresh_token'], 'each load renewed from the kept refresh token');
    const kept = await page.evaluate(async () => {
      const db = await new Promise((resolve, reject) => { const r = indexedDB.open('abev', 1); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      const record = await new Promise((resolve) => { const r = db.transaction('session').objectStore('session').get('refresh'); r.onsuccess = () => resolve(r.result); });
      const exportable = await crypto.subtle.exportKey('raw', record.key).then(() => true, () => false);
      return { localStorage: localStorage.length, sessionStorage: sessionStorage.length, extractable: record.key.extractable, exportable,
        ciphertext: record.data instanceof ArrayBuffer, bytes: [...new Uint8Array(record.data)] };
    });
    assert.deepEqual({ ...kept, bytes: undefined }, { localStorage: 0, sessionStorage: 0, extractable: false, exportable: false, ciphertext: true, bytes: undefined });
    assert.ok(!Buffer.from(kept.bytes).toString('latin1').match(/^[A-Za-z0-9_-]{43}$/), 'not the token in the clear');
    await tab.close();
  });
});

test('the token is renewed silently before it expires, and the new one is used', async () => {
  await withPage(async (page) => {
    await page.clock.install();
    await signIn(page, 'mary@skynet.example');
    const before = await page.evaluate(async () => (await import('/js/auth.js')).token());
    const bearers = [];
    page.on('request', (r) => { if (r.url().includes('/v1/')) bearers.push(r.headers().authorization); });
    const renewed = page.waitForRequest((r) => r.url().endsWith('/local/oidc/token'));
    await page.clock.fastForward('59:30');
    await renewed;
    await page.waitForFunction((old) => import('/js/auth.js').then((a) => a.token() && a.token() !== old), before);
    await go(page, '#/products/SKY-1');
    const after = await page.evaluate(async () => (await import('/js/auth.js')).token());
    assert.notEqual(after, before);
    assert.equal(bearers.at(-1), `Bearer ${after}`);
    assert.equal(await page.locator('#signin-email').count(), 0, 'never asked to sign in');
  });
});

test('sign-out ends the provider session: the refresh token is revoked and a reload asks to sign in', async () => {
  await withPage(async (page) => {
    await signIn(page, 'ted@data.example');
    let revoked = null;
    page.on('request', (r) => { if (r.url().endsWith('/local/oidc/revoke')) revoked = new URLSearchParams(r.postData()).get('token'); });
    const n = await renderCount(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await rendered(page, n);
    await page.locator('#notice').getByText('You are signed out.').waitFor();
    assert.ok(revoked, 'the refresh token was sent to the revocation endpoint');
    const after = await fetch(`${BASE}/local/oidc/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: revoked, client_id: 'abev-web' }) });
    assert.equal(after.status, 400, 'the revoked token no longer renews');
    await after.text();
    await page.reload();
    await page.locator('#signin-email').waitFor();
  });
});

test('sites sort by name and by entitlements; the filter box narrows the list; keyboard only', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const order = () => page.locator('#sites-table tbody tr:not([hidden])').evaluateAll((rows) => rows.map((r) => r.dataset.site));
    const header = page.locator('#sites-table th', { hasText: 'Entitlements' });
    // Keyboard only: Tab to the column's sort button, Enter.
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.classList.contains('sort') && document.activeElement.textContent === 'Entitlements')) break;
    }
    await page.keyboard.press('Enter');
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');
    const counts = await page.locator('#sites-table tbody td[data-label="Entitlements"]').evaluateAll((c) => c.map((x) => Number(x.dataset.sort)));
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
    await page.keyboard.press('Enter');
    assert.equal(await header.getAttribute('aria-sort'), 'descending');
    const desc = await page.locator('#sites-table tbody td[data-label="Entitlements"]').evaluateAll((c) => c.map((x) => Number(x.dataset.sort)));
    assert.deepEqual(desc, [...desc].sort((a, b) => b - a));
    await page.locator('#sites-table th').first().getByRole('button').click();
    const names = await page.locator('#sites-table tbody tr td:first-child').evaluateAll((c) => c.map((x) => x.textContent));
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    await page.getByRole('searchbox', { name: 'Filter account sites' }).fill('sky');
    assert.deepEqual(await order(), ['SKY-1']);
    await page.locator('#site-filter-count').getByText('Showing 1 of 4 account sites.').waitFor();
    await page.getByRole('searchbox', { name: 'Filter account sites' }).fill('');
    assert.equal((await order()).length, 4);
    await assertAccessible(page, 'My Products, sorted');
  });
});

test('entitlements: dates and numbers in the browser locale, relative hints, expiring and expired rows marked, sortable', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const entitlements = [
      { serial: 'E-OLD', sku: 'K', product: 'Old', quantity: 1200, starts_on: '2020-01-01', ends_on: day(-3), status: 'expired', order_id: 'O', access: ['member'] },
      { serial: 'E-SOON', sku: 'K', product: 'Soon', quantity: 1, starts_on: '2020-01-01', ends_on: day(12), status: 'active', order_id: 'O', access: ['member'] },
      { serial: 'E-FAR', sku: 'K', product: 'Far', quantity: 2, starts_on: '2020-01-01', ends_on: day(400), status: 'active', order_id: 'O', access: ['member'] },
    ];
    await page.route((url) => url.pathname === '/v1/view/sites/MOCK-1/entitlements', (route) => route.fulfill({ status: 200, contentType: 'application/json',
      body: JSON.stringify({ site: { support_id: 'MOCK-1', name: 'Mock' }, entitlements, next_cursor: null }) }));
    await go(page, '#/products/MOCK-1');
    const row = (s) => page.locator(`#entitlements-table tr[data-serial="${s}"]`);
    assert.equal(await row('E-SOON').getAttribute('data-urgency'), 'expiring');
    assert.equal(await row('E-OLD').getAttribute('data-urgency'), 'expired');
    assert.equal(await row('E-FAR').getAttribute('data-urgency'), null);
    assert.match(await row('E-SOON').textContent(), /Ends in 12 days/);
    assert.match(await row('E-SOON').textContent(), /ending soon/);
    assert.match(await row('E-OLD').textContent(), /Ended 3 days ago/);
    assert.equal(await row('E-OLD').locator('td[data-label="Quantity"]').textContent(), '1,200');
    assert.equal(await row('E-FAR').locator('td[data-label="Starts on"] time').textContent(), 'Jan 1, 2020');
    await page.locator('#entitlements-table th', { hasText: 'Ends on' }).getByRole('button').click();
    assert.deepEqual(await page.locator('#entitlements-table tbody tr').evaluateAll((r) => r.map((x) => x.dataset.serial)), ['E-OLD', 'E-SOON', 'E-FAR']);
    await page.locator('#entitlements-table th', { hasText: 'Status' }).getByRole('button').click();
    assert.equal(await page.locator('#entitlements-table tbody tr').first().getAttribute('data-serial'), 'E-OLD', 'expired first');
    await assertAccessible(page, 'entitlements with expiring rows');
    await screenshot(page, '10-expiring-rows');
  });
  // The same screen for a German browser: its own number and date formats.
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    await page.route((url) => url.pathname === '/v1/view/sites/MOCK-1/entitlements', (route) => route.fulfill({ status: 200, contentType: 'application/json',
      body: JSON.stringify({ site: { support_id: 'MOCK-1', name: 'Mock' }, entitlements: [{ serial: 'E-1', sku: 'K', product: 'P', quantity: 1200, starts_on: '2020-01-31', ends_on: day(400), status: 'active', order_id: 'O', access: ['member'] }], next_cursor: null }) }));
    await go(page, '#/products/MOCK-1');
    assert.equal(await page.locator('td[data-label="Quantity"]').textContent(), '1.200');
    assert.equal(await page.locator('td[data-label="Starts on"] time').textContent(), '31.01.2020');
  }, { locale: 'de-DE' });
});

test('dark theme: follows prefers-color-scheme, and every screen passes axe-core in it', async () => {
  await withPage(async (page) => {
    await page.goto(`${BASE}/#/products`);
    await page.locator('#signin-email').waitFor();
    const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    assert.equal(await bg(), 'rgb(20, 23, 28)');
    await assertAccessible(page, 'sign-in (dark)');
    await signIn(page, 'fiona@farm.example', { care: true });
    for (const hash of ['#/products', '#/products/FARM-1', '#/entitlements/S4', '#/manage', '#/manage/FARM-1/members']) {
      await go(page, hash);
      await assertAccessible(page, `${hash} (dark)`);
    }
    await screenshot(page, '11-dark-members');
  }, { colorScheme: 'dark' });
  await withPage(async (page) => {
    await page.goto(`${BASE}/`);
    assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor), 'rgb(255, 255, 255)');
  }, { colorScheme: 'light' });
});

test('rollout waves: an empty view says the sites are waiting for rollout, not "ask for access"', async () => {
  await withPage(async (page) => {
    await signIn(page, 'stranger@nowhere.example');
    // One matcher: page.unroute removes a route by the same matcher it was added with.
    const meRoute = (url) => url.pathname === '/v1/me';
    await page.route(meRoute, (route) => route.fulfill({ status: 200, contentType: 'application/json',
      body: JSON.stringify({ email: 'stranger@nowhere.example', sites: [{ support_id: 'W-1', name: 'W', role: 'user' }, { support_id: 'W-2', name: 'W2', role: 'user' }],
        view: { sites: 0, entitlements: 0 }, rollout: { mode: 'waves', waiting_sites: 2 } }) }));
    await go(page, '#/products');
    const empty = page.locator('#empty-view');
    assert.equal(await empty.getAttribute('data-reason'), 'rollout');
    assert.match(await empty.textContent(), /2 account sites are waiting for rollout/);
    assert.doesNotMatch(await empty.textContent(), /ask for access/);
    await assertAccessible(page, 'rollout empty state');
    await page.unroute(meRoute);
    await go(page, '#/products');
    assert.equal(await page.locator('#empty-view').getAttribute('data-reason'), 'none', 'everyone mode: the old advice');
  });
});

test('download: the button asks the API for a short-lived link at the click, and says so when there is none', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    await go(page, '#/entitlements/S1');
    const asked = [];
    await page.route((url) => url.pathname === '/v1/entitlements/S1/download', (route) => {
      asked.push(route.request().headers().authorization);
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ url: `${BASE}/app.css?signed=1` }) });
    });
    await Promise.all([page.waitForURL(/app\.css\?signed=1/), page.locator('#download').click()]);
    assert.match(asked[0], /^Bearer /);
  });
  await withPage(async (page) => {
    // The real route: the page goes where the API's answer (asked for as JSON) says.
    await signIn(page, 'mary@skynet.example');
    await go(page, '#/entitlements/S1');
    const link = await page.evaluate(async () => (await import('/js/api.js')).downloadLink('/v1/entitlements/S1/download'));
    assert.match(link, /^https?:\/\//);
    const target = new URL(link);
    await page.route((url) => url.origin === target.origin && url.pathname === target.pathname, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'file' }));
    await Promise.all([page.waitForURL((u) => u.origin === target.origin && u.pathname === target.pathname), page.locator('#download').click()]);
  });
  await withPage(async (page) => {
    // No download in the caller's view (404): a notice, and the page stays where it is.
    await signIn(page, 'mary@skynet.example');
    await go(page, '#/entitlements/S1');
    await page.route((url) => url.pathname === '/v1/entitlements/S1/download', (route) =>
      route.fulfill({ status: 404, contentType: 'application/problem+json', body: JSON.stringify({ title: 'Not Found', status: 404 }) }));
    await page.locator('#download').click();
    await page.getByText('No download is available for this entitlement right now.').waitFor();
    assert.match(page.url(), /#\/entitlements\/S1$/);
  });
});

test('CSV export neutralises cells that a spreadsheet would run as formulas', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const evil = { serial: '=1+1', sku: '+SKU', product: '@SUM(A1:A9)', quantity: 1, starts_on: '2026-01-01', ends_on: '2027-01-01', status: 'active', order_id: '-O', access: ['member'] };
    const tab = { ...evil, serial: '\tTAB', product: '=HYPERLINK("http://x","y")' };
    await page.route((url) => url.pathname === '/v1/view/sites/MOCK-1/entitlements', (route) => route.fulfill({ status: 200, contentType: 'application/json',
      body: JSON.stringify({ site: { support_id: 'MOCK-1', name: 'Mock' }, entitlements: [evil, tab], next_cursor: null }) }));
    await go(page, '#/products/MOCK-1');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export this site (CSV)' }).click()]);
    const lines = readFileSync(await download.path(), 'utf8').split('\r\n');
    assert.equal(lines[1], "MOCK-1,'=1+1,'+SKU,'@SUM(A1:A9),1,2026-01-01,2027-01-01,active,'-O,member");
    assert.equal(lines[2], "MOCK-1,'\tTAB,'+SKU,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",1,2026-01-01,2027-01-01,active,'-O,member");
  });
});

test('OIDC callback: the nonce is required, and no text of a forged answer is shown', async () => {
  await withPage(async (page) => {
    await page.goto(`${BASE}/`);
    const tokenEndpoint = 'https://idp.example/oauth2/token';
    await page.route(tokenEndpoint, (route) => {
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      // An ID token without a nonce.
      const id = `${b64({ alg: 'RS256' })}.${b64({ email: 'ann@example.com', exp: Math.floor(Date.now() / 1000) + 600 })}.sig`;
      return route.fulfill({ status: 200, contentType: 'application/json', headers: { 'Access-Control-Allow-Origin': '*' }, body: JSON.stringify({ id_token: id, expires_in: 600 }) });
    });
    const result = await page.evaluate(async (tokenEndpointUrl) => {
      const auth = await import('/js/auth.js');
      const config = { mode: 'oidc', client_id: 'c', authorize_endpoint: 'https://idp.example/authorize', token_endpoint: tokenEndpointUrl, redirect_uri: `${window.location.origin}/` };
      const url = new URL(await auth.prepareSignIn(config, '#/'));
      const noNonce = await auth.completeSignIn(config, `${window.location.origin}/?code=c&state=${url.searchParams.get('state')}`).then(() => 'accepted', (e) => e.message);
      await auth.prepareSignIn(config, '#/');
      const forged = await auth.completeSignIn(config, `${window.location.origin}/?error=x&error_description=${encodeURIComponent('Call +1-555 <b>now</b>')}&state=forged`).then(() => 'accepted', (e) => e.message);
      return { noNonce, forged };
    }, tokenEndpoint);
    assert.match(result.noNonce, /replay check/);
    assert.match(result.forged, /does not belong to a sign-in started here/);
    assert.doesNotMatch(result.forged, /555|now/);
  }, { bypassCSP: true });
});

test('Care screens follow the group the deployment configures (config.json care_group)', async () => {
  await withPage(async (page) => {
    const config = await (await fetch(`${BASE}/config.json`)).json();
    assert.equal(config.auth.care_group, 'customer-care', 'the local host passes the API\'s ABEV_CARE_GROUP on');
    await page.route((url) => url.pathname === '/config.json', (route) => route.fulfill({ status: 200, contentType: 'application/json',
      body: JSON.stringify({ ...config, auth: { ...config.auth, care_group: 'support-staff' } }) }));
    await signIn(page, 'carla@care.example', { care: true });
    assert.equal(await page.locator('#who .badge').count(), 0, 'a customer-care token is not Care where the group is support-staff');
  });
});

test('usable at 375 px: the new filter box, sort buttons and hints do not scroll sideways', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    await page.locator('#site-filter').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await assertAccessible(page, 'My Products at 375px');
    await go(page, '#/products/ACME-1');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  }, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
});
