// The customer-portal page in Debian's headless Chromium against the local stack with the
// spec §2 worked example seeded (scripts/test-browser.sh). The tests run in this order and
// build on each other: ted's approved request of test 6 is part of the later views.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import {
  browserSuite, BASE, expectedViews, openPage, signIn, go, screenshot, tokenFor, apiAs, walk,
  assertAccessible, viewShownBy, csvOf, renderCount, rendered,
} from './harness.js';

/** The status of a GET of `path` exactly as written (fetch would normalise `..` away). */
function rawStatus(path) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${BASE}/`, { path, method: 'GET' }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
}
const CSV_COLUMNS = ['site', 'serial', 'sku', 'product', 'quantity', 'starts_on', 'ends_on', 'status', 'order_id', 'access'];

const suite = browserSuite();
const { withPage } = suite;

test('the local host serves the page, its config and the local sign-in', async () => {
  // Every body is read: an unread one keeps node's connection (and the test run) open.
  const get = async (p, init) => { const r = await fetch(`${BASE}${p}`, init); return { r, text: await r.text() }; };
  const index = await get('/');
  assert.equal(index.r.status, 200);
  assert.match(index.r.headers.get('content-type'), /^text\/html/);
  assert.match(index.r.headers.get('content-security-policy'), /script-src 'self'/);
  assert.match(index.text, /<script type="module" src="js\/app.js">/);
  assert.match((await get('/js/app.js')).r.headers.get('content-type'), /^text\/javascript/);
  assert.match((await get('/app.css')).r.headers.get('content-type'), /^text\/css/);
  const config = JSON.parse((await get('/config.json')).text);
  assert.deepEqual({ api_base: config.api_base, mode: config.auth.mode, token: config.auth.token_endpoint, revoke: config.auth.revocation_endpoint },
    { api_base: '', mode: 'local', token: '/local/oidc/token', revoke: '/local/oidc/revoke' });
  // No path escapes the web directory; unknown paths are the API's (a token is required).
  // (`/js/../index.html` and `/js/./app.js` name files that exist: only plain paths are served.)
  for (const raw of ['/js/../../Cargo.toml', '/..%2F..%2FCargo.toml', '/%2e%2e/Cargo.toml', '/js/./app.js', '/js/../index.html', '//etc/passwd']) {
    assert.equal(await rawStatus(raw), 401, raw);
  }
  assert.equal((await get('/v1/view')).r.status, 401);
  assert.equal((await get('/local/sign-in')).r.status, 405);
  const bad = await get('/local/sign-in', { method: 'POST', body: '{"email":"not an address"}' });
  assert.equal(bad.r.status, 400);
  assert.match(JSON.parse(bad.text).detail, /not an e-mail address/);
  const { body } = await apiAs(await tokenFor('Mary@Skynet.example'), '/v1/me');
  assert.equal(body.email, 'mary@skynet.example');
});

test('OIDC: PKCE S256 challenge, authorize URL, code exchange and state check (auth.js in the page)', async () => {
  await withPage(async (page) => {
    await page.goto(`${BASE}/`);
    const tokenEndpoint = 'https://idp.example/oauth2/token';
    let exchanged = null;
    const idToken = (nonce) => {
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${b64({ alg: 'RS256' })}.${b64({ email: 'ann@example.com', 'cognito:groups': ['customer-care'], nonce, exp: Math.floor(Date.now() / 1000) + 600 })}.sig`;
    };
    await page.route(tokenEndpoint, async (route) => {
      exchanged = new URLSearchParams(route.request().postData());
      const pending = await page.evaluate(() => window.__lastNonce);
      await route.fulfill({ status: 200, contentType: 'application/json', headers: { 'Access-Control-Allow-Origin': '*' },
        body: JSON.stringify({ id_token: idToken(pending), access_token: 'at', token_type: 'Bearer', expires_in: 3600 }) });
    });
    const result = await page.evaluate(async (tokenEndpointUrl) => {
      const auth = await import('/js/auth.js');
      const config = { mode: 'oidc', issuer: 'https://idp.example', client_id: 'client-1', authorize_endpoint: 'https://idp.example/oauth2/authorize',
        token_endpoint: tokenEndpointUrl, redirect_uri: `${window.location.origin}/`, scope: 'openid email' };
      const rfc7636 = await auth.pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
      const url = new URL(await auth.prepareSignIn(config, '#/entitlements/S4'));
      const pending = JSON.parse(sessionStorage.getItem('abev.oidc.pending'));
      window.__lastNonce = pending.nonce;
      const params = Object.fromEntries(url.searchParams);
      const ownChallenge = await auth.pkceChallenge(pending.verifier);
      const wrongState = await auth.completeSignIn(config, `${window.location.origin}/?code=abc&state=forged`).then(() => 'accepted', (e) => e.message);
      // The failed attempt consumed the pending sign-in; start again for the good one.
      const url2 = new URL(await auth.prepareSignIn(config, '#/entitlements/S4'));
      const pending2 = JSON.parse(sessionStorage.getItem('abev.oidc.pending'));
      window.__lastNonce = pending2.nonce;
      const done = await auth.completeSignIn(config, `${window.location.origin}/?code=the-code&state=${url2.searchParams.get('state')}`);
      const notRedirect = await auth.completeSignIn(config, `${window.location.origin}/#/products`);
      const url3 = new URL(await auth.prepareSignIn(config, '#/'));
      const denied = await auth.completeSignIn(config, `${window.location.origin}/?error=access_denied&error_description=User+cancelled&state=${url3.searchParams.get('state')}`).then(() => 'accepted', (e) => e.message);
      return { rfc7636, origin: url.origin + url.pathname, params, pending, ownChallenge, wrongState, verifier2: pending2.verifier,
        done: { email: done.session.email, care: done.session.care, returnTo: done.returnTo },
        left: sessionStorage.getItem('abev.oidc.pending'), notRedirect, denied };
    }, tokenEndpoint);
    assert.equal(result.rfc7636, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'RFC 7636 appendix B');
    assert.equal(result.origin, 'https://idp.example/oauth2/authorize');
    assert.equal(result.params.response_type, 'code');
    assert.equal(result.params.client_id, 'client-1');
    assert.equal(result.params.redirect_uri, `${BASE}/`);
    assert.equal(result.params.scope, 'openid email');
    assert.equal(result.params.code_challenge_method, 'S256');
    assert.equal(result.params.state, result.pending.state);
    assert.equal(result.params.nonce, result.pending.nonce);
    assert.match(result.pending.verifier, /^[A-Za-z0-9_-]{43,128}$/);
    assert.equal(result.params.code_challenge, createHash('sha256').update(result.pending.verifier).digest('base64url'));
    assert.equal(result.ownChallenge, result.params.code_challenge);
    assert.equal(result.pending.returnTo, '#/entitlements/S4');
    assert.match(result.wrongState, /does not belong to a sign-in started here/);
    assert.equal(exchanged.get('grant_type'), 'authorization_code');
    assert.equal(exchanged.get('code'), 'the-code');
    assert.equal(exchanged.get('code_verifier'), result.verifier2);
    assert.equal(exchanged.get('client_id'), 'client-1');
    assert.deepEqual(result.done, { email: 'ann@example.com', care: true, returnTo: '#/entitlements/S4' });
    assert.equal(result.left, null, 'the verifier is gone from sessionStorage after the exchange');
    assert.equal(result.notRedirect, null);
    assert.match(result.denied, /not completed: User cancelled/);
  }, { bypassCSP: true }); // the local page's policy allows connections to itself only
});

test('OIDC mode end to end: sign in through an identity provider and land on the deep-linked serial', async () => {
  // The provider is the local host's OIDC stand-in (/local/oidc: a sign-in form, PKCE,
  // a nonce in the ID token); only config.json is switched to OIDC mode.
  const auth = {
    mode: 'oidc', issuer: `${BASE}/local/oidc`, client_id: 'portal', authorize_endpoint: `${BASE}/local/oidc/authorize`,
    token_endpoint: `${BASE}/local/oidc/token`, revocation_endpoint: `${BASE}/local/oidc/revoke`, logout_endpoint: `${BASE}/local/oidc/logout`,
    redirect_uri: `${BASE}/`, scope: 'openid email',
  };
  await withPage(async (page) => {
    let authorize = null;
    let exchange = null;
    await page.route((url) => url.pathname === '/config.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ api_base: '', auth }) }));
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/local/oidc/authorize' && r.method() === 'GET') authorize = url.searchParams;
      if (url.pathname === '/local/oidc/token' && !exchange) exchange = new URLSearchParams(r.postData());
    });
    await page.goto(`${BASE}/#/entitlements/S4`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signin-email').fill('mary@skynet.example');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#license-keys').waitFor();
    assert.equal(authorize.get('client_id'), 'portal');
    assert.equal(authorize.get('code_challenge_method'), 'S256');
    assert.ok(authorize.get('nonce'));
    assert.equal(exchange.get('grant_type'), 'authorization_code');
    assert.equal(createHash('sha256').update(exchange.get('code_verifier')).digest('base64url'), authorize.get('code_challenge'));
    const url = new URL(page.url());
    assert.equal(url.search, '', 'the code is gone from the address bar');
    assert.equal(url.hash, '#/entitlements/S4');
    assert.match(await page.locator('h1').textContent(), /\(S4\)/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing of the sign-in is left in sessionStorage');
    assert.equal(await page.locator('#who .email').textContent(), 'mary@skynet.example');
    // Sign-out goes through the provider's logout endpoint and back to the page.
    await Promise.all([page.waitForURL(`${BASE}/`), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });
});

test('bill, ted and mary each see exactly the spec §2 table, with the reasons in words', async () => {
  for (const email of ['bill@acme.example', 'ted@data.example', 'mary@skynet.example']) {
    await withPage(async (page) => {
      await signIn(page, email);
      assert.deepEqual(await viewShownBy(page), expectedViews[email], email);
      if (email === 'mary@skynet.example') {
        await go(page, '#/products');
        const farm = page.locator('#sites-table tr[data-site="FARM-1"]');
        await assert.doesNotReject(farm.getByText('Sold through your reseller account').waitFor());
        assert.equal(await page.locator('#sites-table tr[data-site="SKY-1"] td[data-label="Entitlements"]').textContent(), '3');
        await screenshot(page, '01-my-products-mary');
        await go(page, '#/products/ACME-1');
        await screenshot(page, '02-site-entitlements-mary');
      }
    });
  }
});

test('entitlement filters: search, status and ends-before go to the API and the URL', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example', { hash: '#/products/SKY-1' });
    await page.locator('#entitlements-table').waitFor();
    const token = await tokenFor('mary@skynet.example');
    const all = (await apiAs(token, '/v1/view/sites/SKY-1/entitlements')).body.entitlements;
    const target = all[0];
    await page.getByLabel('Search serial, SKU or product').fill(target.serial.toLowerCase());
    const n = await renderCount(page);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await rendered(page, n);
    assert.equal(new URL(page.url()).hash, `#/products/SKY-1?q=${target.serial.toLowerCase()}`);
    const expected = (await apiAs(token, `/v1/view/sites/SKY-1/entitlements?q=${encodeURIComponent(target.serial.toLowerCase())}`)).body.entitlements.map((e) => e.serial);
    assert.deepEqual(await page.locator('#entitlements-table tbody tr').evaluateAll((r) => r.map((x) => x.dataset.serial)), expected);
    // ends_before far in the past: nothing matches, and the page says so.
    await go(page, '#/products/SKY-1?ends_before=2000-01-01&status=active');
    assert.equal(await page.getByLabel('Ends before').inputValue(), '2000-01-01');
    assert.equal(await page.getByLabel('Status').inputValue(), 'active');
    await page.getByText('No entitlements match these filters.').waitFor();
    // A bad filter value is the API's 400, shown as its sentence.
    await go(page, '#/products/SKY-1?status=sleeping');
    assert.equal(await page.locator('h1').textContent(), 'That did not work');
    assert.match(await page.locator('main .failure').textContent(), /^Status must be active, expired or upcoming, got "sleeping"\.$/);
  });
});

test('a stranger sees an empty view, and a serial URL of someone else\'s entitlement shows "not found"', async () => {
  await withPage(async (page) => {
    await signIn(page, 'stranger@nowhere.example');
    await page.locator('#empty-view').waitFor();
    assert.equal(await page.locator('#sites-table').count(), 0);
    await go(page, '#/entitlements/S1');
    assert.equal(await page.locator('h1').textContent(), 'Not found');
    assert.equal(await page.locator('main .failure').textContent(), 'No entitlement S1 in your view.');
    await screenshot(page, '03-stranger-not-found');
    await assertAccessible(page, 'not found');
  });
  // Mary may not see S9 (O-5 came through another reseller): a deep link opened before
  // signing in lands on the same route after sign-in, and says "not found".
  await withPage(async (page) => {
    await page.goto(`${BASE}/#/entitlements/S9`);
    await signIn(page, 'mary@skynet.example');
    assert.equal(new URL(page.url()).hash, '#/entitlements/S9');
    assert.equal(await page.locator('h1').textContent(), 'Not found');
  });
});

test('§2 story: ted requests FARM-1, a Care agent approves it in the page, ted sees S4 and copies its licence key', async () => {
  const { context: tedContext, page: ted, problems: tedProblems } = await openPage(suite.browser());
  try {
    // Ted signs in with the keyboard only.
    await ted.goto(`${BASE}/#/manage`);
    await ted.locator('#signin-email').focus();
    await ted.keyboard.type('ted@data.example');
    await ted.keyboard.press('Tab');
    await ted.keyboard.press('Tab');
    await ted.keyboard.press('Enter');
    await ted.locator('#request-form').waitFor();
    await ted.getByText('You are not a member of any account site yet.').waitFor();
    await ted.getByLabel('Support ID').fill('farm-1');
    await ted.getByLabel('Role').selectOption('user');
    await ted.getByRole('button', { name: 'Request access' }).click();
    await ted.locator('#notice').getByText('Your request for FARM-1 is sent. This site has no administrator, so Customer Care will decide it.').waitFor();
    const mine = ted.locator('#my-requests tbody tr', { hasText: 'FARM-1' });
    assert.match(await mine.textContent(), /Waiting for Customer Care/);
    await screenshot(ted, '04-ted-requested-farm');

    // A second request for the same site returns the open one, not a copy.
    await ted.getByLabel('Support ID').fill('FARM-1');
    await ted.getByRole('button', { name: 'Request access' }).click();
    await ted.locator('#notice').getByText('You already have an open request for FARM-1; it was not sent again.').waitFor();
    assert.equal(await ted.locator('#my-requests tbody tr', { hasText: 'FARM-1' }).count(), 1);

    await withPage(async (care) => {
      await signIn(care, 'care@abev.example', { care: true, hash: '#/manage' });
      await care.locator('#who').getByText('Customer Care').waitFor();
      const row = care.locator('#approvals tr[data-requester="ted@data.example"][data-site="FARM-1"]');
      assert.match(await row.textContent(), /Waiting for Customer Care/);
      await assertAccessible(care, 'Site Management (Care, approvals)');
      await screenshot(care, '05-care-approvals');
      await row.getByRole('button', { name: 'Approve' }).click();
      await care.locator('#notice').getByText('Approved: ted@data.example is now a user of FARM-1.').waitFor();
      assert.equal(await care.locator('#approvals tr[data-requester="ted@data.example"][data-site="FARM-1"]').count(), 0);
    });

    // Back in ted's page (same session): his request is approved and FARM-1 is in his view.
    await go(ted, '#/manage');
    assert.match(await ted.locator('#my-requests tbody tr', { hasText: 'FARM-1' }).textContent(), /Approved/);
    assert.match(await ted.locator('#my-sites').textContent(), /FARM-1/);
    await ted.getByRole('link', { name: 'My Products' }).click();
    await ted.locator('#sites-table tr[data-site="FARM-1"]').waitFor();
    assert.deepEqual(await viewShownBy(ted), { ...expectedViews['ted@data.example'], 'FARM-1': { S4: ['member'] } });
    await go(ted, '#/products/FARM-1');
    await ted.getByRole('link', { name: 'S4' }).click();
    await ted.locator('#license-keys').waitFor();
    assert.equal(new URL(ted.url()).hash, '#/entitlements/S4');
    const detail = (await apiAs(await tokenFor('ted@data.example'), '/v1/entitlements/S4')).body;
    const key = detail.license_keys[0];
    await ted.getByRole('button', { name: `Copy licence key ${key}` }).click();
    await ted.locator('#notice').getByText(`Licence key ${key} copied to the clipboard.`).waitFor();
    assert.equal(await ted.evaluate(() => navigator.clipboard.readText()), key);
    assert.equal(await ted.locator('#download').textContent(), `Download ${detail.product}`);
    await assertAccessible(ted, 'entitlement detail');
    await screenshot(ted, '06-ted-s4-licence-key');
    // Download goes where the API's download route says, asked for at the click (as JSON:
    // a page cannot read a redirect's Location), not to the detail's own download_url.
    let fetched = null;
    await ted.route('https://downloads.example/**', (route) => {
      fetched = route.request().url();
      return route.fulfill({ status: 200, contentType: 'text/plain', body: 'the file' });
    });
    const asked = ted.waitForRequest((r) => new URL(r.url()).pathname === '/v1/entitlements/S4/download' && r.headers().accept === 'application/json');
    await ted.getByRole('button', { name: `Download ${detail.product}` }).click();
    await asked;
    await ted.waitForURL(detail.download_url);
    assert.equal(fetched, detail.download_url);
    assert.deepEqual(tedProblems, []);
  } finally {
    await tedContext.close();
  }
});

test('a site admin approves one join request and rejects another with a reason, then removes a member', async () => {
  // Fiona (a user of FARM-1) asks to become its administrator; the site has none, so
  // the request goes to Care, who approves it as admin in the page.
  const fiona = await tokenFor('fiona@farm.example');
  const asked = await apiAs(fiona, '/v1/access-requests', { method: 'POST', body: JSON.stringify({ support_id: 'FARM-1', role: 'admin' }) });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  assert.equal(asked.body.status, 'escalated');
  await withPage(async (care) => {
    await signIn(care, 'care@abev.example', { care: true, hash: '#/manage' });
    const row = care.locator('#approvals tr[data-requester="fiona@farm.example"][data-site="FARM-1"]');
    await row.getByLabel('Approve as').selectOption('admin');
    await row.getByRole('button', { name: 'Approve' }).click();
    await care.locator('#notice').getByText('Approved: fiona@farm.example is now a site administrator of FARM-1.').waitFor();
  });

  // Gary and Oscar ask to join FARM-1: now an admin decides.
  for (const email of ['gary@globex.example', 'oscar@other.example']) {
    const r = await apiAs(await tokenFor(email), '/v1/access-requests', { method: 'POST', body: JSON.stringify({ support_id: 'FARM-1' }) });
    assert.equal(r.status, 201);
    assert.equal(r.body.status, 'pending_admin');
  }
  await withPage(async (page) => {
    await signIn(page, 'fiona@farm.example', { hash: '#/manage' });
    assert.match(await page.locator('#my-sites tr', { hasText: 'FARM-1' }).textContent(), /Site administrator/);
    const gary = page.locator('#approvals tr[data-requester="gary@globex.example"]');
    const oscar = page.locator('#approvals tr[data-requester="oscar@other.example"]');
    assert.equal(await gary.getByLabel('Approve as').count(), 0, 'only Care approves with another role');
    await assertAccessible(page, 'Site Management (site admin)');
    await screenshot(page, '07-admin-approvals');
    await gary.getByRole('button', { name: 'Approve' }).click();
    await page.locator('#notice').getByText('Approved: gary@globex.example is now a user of FARM-1.').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'notice', 'focus goes to the outcome of the action');
    // Rejecting needs a reason: the empty form is not sent.
    await oscar.getByRole('button', { name: 'Reject' }).click();
    assert.equal(await oscar.getByLabel('Reason for rejecting').evaluate((el) => el.validity.valueMissing), true);
    await oscar.getByLabel('Reason for rejecting').fill('Not a Farm Foods employee');
    await oscar.getByRole('button', { name: 'Reject' }).click();
    await page.locator('#notice').getByText('Rejected the request of oscar@other.example for FARM-1.').waitFor();
    assert.equal(await page.locator('#approvals tbody tr').count(), 0);

    // The members of FARM-1, and a removal.
    await page.getByRole('link', { name: 'Members of FARM-1' }).click();
    await page.locator('#members').waitFor();
    const members = await page.locator('#members tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.member).sort());
    assert.deepEqual(members, ['fiona@farm.example', 'gary@globex.example', 'ted@data.example']);
    await assertAccessible(page, 'members');
    await page.getByRole('button', { name: 'Remove gary@globex.example' }).click();
    await page.locator('#notice').getByText('gary@globex.example was removed from FARM-1.').waitFor();
    assert.equal(await page.locator('#members tr[data-member="gary@globex.example"]').count(), 0);
  });
  const oscarRequests = (await apiAs(await tokenFor('oscar@other.example'), '/v1/access-requests')).body.requests;
  const rejected = oscarRequests.find((r) => r.support_id === 'FARM-1');
  assert.equal(rejected.status, 'rejected');
  assert.equal(rejected.reason, 'Not a Farm Foods employee');
  assert.equal(rejected.decided_by, 'fiona@farm.example');
  await withPage(async (page) => {
    await signIn(page, 'oscar@other.example', { hash: '#/manage' });
    assert.match(await page.locator('#my-requests tr', { hasText: 'FARM-1' }).textContent(), /Rejected.*Not a Farm Foods employee/);
    assert.equal(await page.locator('#approvals').count(), 0);
  });
});

test('API errors are shown as the sentence of their problem+json detail', async () => {
  await withPage(async (page) => {
    await signIn(page, 'ted@data.example', { hash: '#/manage' });
    await page.getByLabel('Support ID').fill('NOPE-1');
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.locator('#alert').getByText('No account site NOPE-1.').waitFor();
    // ted is already a user of FARM-1 (test above): asking for that role again is a 409.
    await page.getByLabel('Support ID').fill('FARM-1');
    await page.getByRole('button', { name: 'Request access' }).click();
    const token = await tokenFor('ted@data.example');
    const conflict = await apiAs(token, '/v1/access-requests', { method: 'POST', body: JSON.stringify({ support_id: 'FARM-1' }) });
    assert.equal(conflict.status, 409);
    const sentence = conflict.body.detail.charAt(0).toUpperCase() + conflict.body.detail.slice(1).replace(/([^.])$/, '$1.');
    await page.locator('#alert').getByText(sentence).waitFor();
    assert.doesNotMatch(await page.locator('#alert').textContent(), /[{}]|problem|undefined/);
    // Members of a site ted does not administer: answered like an unknown site (404), its
    // sentence shown, not a blank page.
    await go(page, '#/manage/ACME-1/members');
    assert.equal(await page.locator('h1').textContent(), 'Not found');
    assert.match(await page.locator('main .failure').textContent(), /^No account site ACME-1 that you administer\.$/);
  });
});

test('an expired session asks to sign in again and comes back to the same place', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    // The API answers the next call as it answers an expired token.
    let expired = 0;
    await page.route((url) => url.pathname === '/v1/view/sites/GLOBEX-1/entitlements', async (route) => {
      if (expired++ === 0) {
        await route.fulfill({ status: 401, contentType: 'application/problem+json',
          body: JSON.stringify({ type: 'https://abev.example/problems/unauthorized', title: 'Authentication required', status: 401, detail: 'the token has expired' }) });
      } else {
        await route.continue();
      }
    });
    await page.evaluate(() => { window.location.hash = '#/products/GLOBEX-1'; });
    await page.locator('#signin-email').waitFor();
    await page.locator('#alert').getByText('Your session has ended. Please sign in again').waitFor();
    assert.equal(new URL(page.url()).hash, '#/products/GLOBEX-1');
    await signIn(page, 'mary@skynet.example');
    await page.locator('#entitlements-table tr[data-serial="S5"]').waitFor();
    assert.equal(new URL(page.url()).hash, '#/products/GLOBEX-1');
  });
});

test('CSV export of mary\'s view matches the API, row for row', async () => {
  const token = await tokenFor('mary@skynet.example');
  const sites = await walk(token, '/v1/view', 'sites', { limit: '500' });
  const rows = [CSV_COLUMNS];
  for (const s of sites) {
    for (const e of await walk(token, `/v1/view/sites/${s.support_id}/entitlements`, 'entitlements', { limit: '500' })) {
      rows.push([s.support_id, e.serial, e.sku, e.product, e.quantity, e.starts_on, e.ends_on, e.status, e.order_id, e.access]);
    }
  }
  const expected = csvOf(rows);
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export all entitlements (CSV)' }).click()]);
    assert.match(download.suggestedFilename(), /^abev-entitlements-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8');
    assert.equal(csv, expected);
    assert.equal(csv.split('\r\n').length - 2, 8, 'mary sees 8 entitlements');
    await page.locator('#export-status').getByText('Export ready: 8 entitlements from 4 account sites.').waitFor();
    await assertAccessible(page, 'My Products after an export');

    // One site's export.
    await go(page, '#/products/SKY-1');
    const [one] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export this site (CSV)' }).click()]);
    assert.match(one.suggestedFilename(), /^abev-entitlements-SKY-1-/);
    const siteCsv = readFileSync(await one.path(), 'utf8');
    assert.equal(siteCsv, csvOf([CSV_COLUMNS, ...rows.slice(1).filter((r) => r[0] === 'SKY-1')]));
  });
});

test('a long export shows progress and can be cancelled', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await page.route((url) => url.pathname === '/v1/view/sites/FARM-1/entitlements', async (route) => { await held; await route.continue().catch(() => {}); });
    await page.getByRole('button', { name: 'Export all entitlements (CSV)' }).click();
    await page.locator('#export-progress').waitFor();
    await page.locator('#export-status').getByText(/Exported \d+ entitlements from 1 of 4 account sites/).waitFor();
    await page.getByRole('button', { name: 'Cancel export' }).click();
    await page.locator('#export-status').getByText('Export cancelled.').waitFor();
    assert.equal(await page.locator('#export-download').count(), 0);
    release();
  });
});

test('an export retries a page the API answers with 503 (busy) and still matches', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    let calls = 0;
    await page.route((url) => url.pathname === '/v1/view/sites/FARM-1/entitlements', async (route) => {
      if (calls++ === 0) {
        await route.fulfill({ status: 503, contentType: 'application/problem+json',
          body: JSON.stringify({ type: 'https://abev.example/problems/unavailable', title: 'Temporarily unavailable', status: 503, detail: 'try again later' }) });
      } else {
        await route.continue();
      }
    });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export all entitlements (CSV)' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    assert.equal(calls, 2, 'the busy page was asked for again');
    assert.equal(csv.split('\r\n').length - 2, 8);
    assert.match(csv, /\r\nFARM-1,S4,/);
  });
});

test('export of 100,000 entitlements over 200 sites builds one file without stalling the page', async () => {
  const SITES = 200;
  const PER_SITE = 500;
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    // A reseller's view as the API would page it, served to the page by the test.
    await page.route((url) => url.pathname === '/v1/view', async (route) => {
      const sites = Array.from({ length: SITES }, (_, i) => ({ support_id: `R-${i}`, name: `Reseller customer ${i}`, entitlement_count: PER_SITE, access: ['reseller'] }));
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ sites, next_cursor: null }) });
    });
    const limits = new Set();
    await page.route((url) => /^\/v1\/view\/sites\/R-\d+\/entitlements$/.test(url.pathname), async (route) => {
      const url = new URL(route.request().url());
      limits.add(url.searchParams.get('limit'));
      const site = decodeURIComponent(url.pathname.split('/')[4]);
      const pageNo = Number(url.searchParams.get('cursor') || 0);
      const half = PER_SITE / 2;
      const entitlements = Array.from({ length: half }, (_, i) => {
        const n = pageNo * half + i;
        return { serial: `${site}-S${n}`, sku: 'SKU-1', product: 'Product, "quoted"', quantity: 1, starts_on: '2026-01-01', ends_on: '2027-01-01', status: 'active', order_id: `O-${site}`, access: ['reseller'] };
      });
      await route.fulfill({ status: 200, contentType: 'application/json',
        body: JSON.stringify({ site: { support_id: site, name: site }, entitlements, next_cursor: pageNo === 0 ? '1' : null }) });
    });
    await go(page, '#/products');
    const started = Date.now();
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.getByRole('button', { name: 'Export all entitlements (CSV)' }).click(),
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.split('\r\n');
    assert.equal(lines.pop(), '', 'the file ends with CRLF');
    assert.equal(lines.length, 1 + SITES * PER_SITE);
    assert.equal(lines[0], CSV_COLUMNS.join(','));
    assert.equal(lines[1], 'R-0,R-0-S0,SKU-1,"Product, ""quoted""",1,2026-01-01,2027-01-01,active,O-R-0,reseller');
    assert.equal(lines.at(-1), `R-${SITES - 1},R-${SITES - 1}-S${PER_SITE - 1},SKU-1,"Product, ""quoted""",1,2026-01-01,2027-01-01,active,O-R-${SITES - 1},reseller`);
    await page.locator('#export-status').getByText('Export ready: 100,000 entitlements from 200 account sites.').waitFor();
    assert.deepEqual([...limits], ['500'], 'pages of 500');
    console.log(`# 100,000-row export took ${Date.now() - started} ms`);
  });
});

test('"Show more" follows next_cursor on the sites and on a site\'s entitlements, keeping the filters', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    const seen = [];
    await page.route((url) => url.pathname === '/v1/view', async (route) => {
      const url = new URL(route.request().url());
      seen.push(url.search);
      const second = url.searchParams.get('cursor') === 'view-2';
      const sites = Array.from({ length: 3 }, (_, i) => ({ support_id: `P${second ? 2 : 1}-${i}`, name: `Site ${i}`, entitlement_count: 1, access: ['member'] }));
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ sites, next_cursor: second ? null : 'view-2' }) });
    });
    await page.route((url) => url.pathname === '/v1/view/sites/P1-0/entitlements', async (route) => {
      const url = new URL(route.request().url());
      seen.push(url.search);
      const second = url.searchParams.get('cursor') === 'ent-2';
      const entitlements = [{ serial: second ? 'B-1' : 'A-1', sku: 'K', product: 'P', quantity: 1, starts_on: '2026-01-01', ends_on: '2027-01-01', status: 'active', order_id: 'O', access: ['member'] }];
      await route.fulfill({ status: 200, contentType: 'application/json',
        body: JSON.stringify({ site: { support_id: 'P1-0', name: 'Site 0' }, entitlements, next_cursor: second ? null : 'ent-2' }) });
    });
    await go(page, '#/products');
    assert.equal(await page.locator('#sites-table tbody tr').count(), 3);
    await page.getByRole('button', { name: 'Show more sites' }).click();
    await page.locator('#sites-table tr[data-site="P2-2"]').waitFor();
    assert.equal(await page.locator('#sites-table tbody tr').count(), 6);
    assert.equal(await page.getByRole('button', { name: 'Show more sites' }).count(), 0, 'no button after the last page');
    assert.deepEqual(seen.splice(0), ['?limit=500', '?limit=500&cursor=view-2']);

    await go(page, '#/products/P1-0?status=active');
    assert.match(await page.locator('#shown').textContent(), /Showing 1 entitlement \(more below\) matching the filters\./);
    await page.getByRole('button', { name: 'Show more entitlements' }).click();
    await page.locator('#entitlements-table tr[data-serial="B-1"]').waitFor();
    assert.match(await page.locator('#shown').textContent(), /Showing 2 entitlements matching the filters\./);
    assert.deepEqual(seen, ['?status=active&limit=100', '?status=active&limit=100&cursor=ent-2']);
  });
});

test('axe-core: no serious or critical violations on the main screens', async () => {
  await withPage(async (page) => {
    await page.goto(`${BASE}/#/products`);
    await page.locator('#signin-email').waitFor();
    await assertAccessible(page, 'sign-in');
    await screenshot(page, '00-sign-in');
    await signIn(page, 'mary@skynet.example');
    await assertAccessible(page, 'My Products');
    await go(page, '#/products/ACME-1');
    await assertAccessible(page, 'site entitlements');
    await go(page, '#/entitlements/S6');
    await assertAccessible(page, 'entitlement detail');
    await go(page, '#/manage');
    await assertAccessible(page, 'Site Management');
  });
});

test('keyboard only: from My Products to a licence key and its Copy button, focus following each screen', async () => {
  /** Presses Tab until the focused element's accessible text matches, at most 40 times. */
  async function tabTo(page, pattern) {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const text = await page.evaluate(() => (document.activeElement?.textContent || '').trim());
      if (pattern.test(text)) return text;
    }
    throw new Error(`nothing matching ${pattern} is reachable with Tab`);
  }
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example');
    let n = await renderCount(page);
    await tabTo(page, /^Acme Inc$/);
    await page.keyboard.press('Enter');
    await rendered(page, n);
    assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'focus moves to the new screen\'s heading');
    n = await renderCount(page);
    await tabTo(page, /^S2$/);
    await page.keyboard.press('Enter');
    await rendered(page, n);
    assert.equal(new URL(page.url()).hash, '#/entitlements/S2');
    await tabTo(page, /^Copy licence key /);
    await page.keyboard.press('Enter');
    await page.locator('#notice').getByText(/^Licence key .* copied to the clipboard\.$/).waitFor();
    // The skip link comes before the navigation and moves focus to the content.
    await page.evaluate(() => document.getElementById('nav-products').focus());
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'skip');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
    assert.equal(new URL(page.url()).hash, '#/entitlements/S2', 'the skip link does not change the route');
  });
});

test('usable at 375 px wide: no sideways scrolling, tables become cards', async () => {
  await withPage(async (page) => {
    await signIn(page, 'mary@skynet.example', { hash: '#/products/ACME-1' });
    await page.locator('#entitlements-table').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
    assert.equal(await page.locator('#entitlements-table thead').evaluate((el) => getComputedStyle(el).position), 'absolute');
    await assertAccessible(page, 'site entitlements at 375px');
    await screenshot(page, '08-phone-375-site');
    await go(page, '#/manage');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await screenshot(page, '09-phone-375-manage');
  }, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
});
