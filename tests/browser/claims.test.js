// A site's claims by proof of purchase (issue 21) on its administration page, in headless
// Chromium against the local stack with the worked example seeded (scripts/test-browser.sh):
// an administrator of GLOBEX-1 (S5 of O-3) sees who claimed it, revokes a claim, sets the
// window to 0 days and then has no Revoke button on the next claim. Checked against the
// API, with axe-core, at 375 px. GLOBEX-1 is left as the other files expect it: its
// administrator and the claimants made here removed, the window back at 7 days.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { browserSuite, signIn, go, screenshot, screenshots, assertAccessible, tokenFor, apiAs, walk } from './harness.js';

const SITE = 'GLOBEX-1';
const ADMIN = 'adam@globex.example';

const { withPage } = browserSuite();

async function claimAs(email) {
  const r = await apiAs(await tokenFor(email), '/v1/claims', { method: 'POST', body: JSON.stringify({ serial: 'S5', order_id: 'O-3' }) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function sitesOf(email) {
  return (await apiAs(await tokenFor(email), '/v1/sites')).body.sites.map((s) => s.support_id);
}

/** Adam asks to administer GLOBEX-1 (it has no administrator, so Care decides) and Care approves. */
async function makeAdmin(care) {
  const asked = await apiAs(await tokenFor(ADMIN), '/v1/access-requests', { method: 'POST', body: JSON.stringify({ support_id: SITE, role: 'admin' }) });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const approved = await apiAs(care, `/v1/access-requests/${encodeURIComponent(asked.body.request_id)}/approve`, { method: 'POST', body: '{}' });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.granted_role, 'admin');
}

test('a site administrator sees the claims of the site, revokes one within its window, and sets the window', async () => {
  const care = await tokenFor('care@abev.example', true);
  await makeAdmin(care);
  const yan = await claimAs('yan@claims.example');
  await claimAs('xena@claims.example');
  try {
    await withPage(async (page) => {
      await signIn(page, ADMIN, { hash: '#/manage' });
      await go(page, `#/manage/${SITE}/members`);
      await page.locator('#claims').waitFor();
      const row = page.locator('#claims tr[data-claim="yan@claims.example"]');
      const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => [td.dataset.label, td.textContent]));
      assert.deepEqual(cells.slice(0, 3), [['Claimant', 'yan@claims.example'], ['Serial', 'S5'], ['Order', 'O-3']]);
      assert.deepEqual(cells.slice(5, 6), [['State', 'Active']]);
      assert.equal(Date.parse(yan.revocable_until) - Date.parse(yan.claimed_at), 7 * 86_400_000, 'the default window: 7 days');
      assert.equal(await page.locator('#members tr[data-member="yan@claims.example"]').count(), 1, 'a claimant is a member');
      await assertAccessible(page, 'site page with claims');
      await screenshot(page, '43-site-claims');

      // The page's list is the API's, in its order.
      const listed = await page.locator('#claims tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.claim));
      const api = (await walk(care, `/v1/sites/${SITE}/claims`, 'claims')).map((c) => c.email);
      assert.deepEqual(listed, api);

      // Revoked from the page (after a confirmation that names whom): the claim says so, and
      // yan is no longer a member.
      const asked = [];
      page.on('dialog', (d) => asked.push(d.message()));
      await page.getByRole('button', { name: 'Revoke the claim of yan@claims.example' }).click();
      await page.locator('#notice').getByText(`The claim of yan@claims.example was revoked; they are no longer a member of ${SITE}.`).waitFor();
      assert.equal(await row.getAttribute('data-status'), 'revoked');
      assert.match(await row.locator('td[data-label="State"]').textContent(), new RegExp(`^Revoked .* by ${ADMIN}$`));
      assert.equal(await row.getByRole('button').count(), 0, 'nothing more to revoke');
      assert.equal(await page.locator('#members tr[data-member="yan@claims.example"]').count(), 0);
      assert.deepEqual(asked, [`Revoke yan@claims.example's claim of ${SITE}? They lose access to its products and may not claim it again.`]);

      // Revoked by Care meanwhile: the page's stale button answers the API's 409 in words.
      assert.equal((await apiAs(care, `/v1/sites/${SITE}/claims/xena%40claims.example`, { method: 'DELETE' })).status, 200);
      await page.getByRole('button', { name: 'Revoke the claim of xena@claims.example' }).click();
      await page.locator('#alert').getByText(/The claim of xena@claims.example at GLOBEX-1 was already revoked\./).waitFor();

      // A window of 0 days: the next claim is active but cannot be revoked.
      assert.equal(await page.getByLabel('Claims can be revoked for (days)').inputValue(), '7', 'the window in force: the default');
      await page.getByLabel('Claims can be revoked for (days)').fill('0');
      await page.getByRole('button', { name: 'Save window' }).click();
      await page.locator('#notice').getByText(`New claims of ${SITE} cannot be revoked.`).waitFor();
      const zoe = await claimAs('zoe@claims.example');
      assert.equal(zoe.revocable_until, zoe.claimed_at);
      await go(page, `#/manage/${SITE}/members`);
      assert.equal(await page.getByLabel('Claims can be revoked for (days)').inputValue(), '0', 'the site\'s own window');
      const zoeRow = page.locator('#claims tr[data-claim="zoe@claims.example"]');
      assert.equal(await zoeRow.locator('td[data-label="State"]').textContent(), 'Active');
      assert.equal(await zoeRow.locator('td[data-label="Revoke"]').textContent(), 'Window closed');
      assert.equal(await zoeRow.getByRole('button').count(), 0);
      assert.equal(await page.locator('#members tr[data-member="zoe@claims.example"]').count(), 1);
      // And the API agrees: the window is closed.
      assert.equal((await apiAs(care, `/v1/sites/${SITE}/claims/zoe%40claims.example`, { method: 'DELETE' })).status, 409);

      // Out of range is the API's 400, in words (the field's own limits let the browser stop it first).
      await page.locator('#claim-window-days').evaluate((el) => { el.removeAttribute('max'); });
      await page.getByLabel('Claims can be revoked for (days)').fill('91');
      await page.getByRole('button', { name: 'Save window' }).click();
      await page.locator('#alert').getByText(/must be 0 to 90/).waitFor();
      await assertAccessible(page, 'site page with revoked and closed claims');
    });
    assert.deepEqual(await sitesOf('yan@claims.example'), [], 'a revoked claimant is no member');
    assert.deepEqual(await sitesOf('zoe@claims.example'), [SITE]);
    const history = (await walk(care, `/v1/sites/${SITE}/history`, 'entries')).map((e) => [e.action, e.subject || null]);
    assert.deepEqual(history.filter(([a]) => a.startsWith('claim')).slice(0, 4), [
      ['claimed', 'zoe@claims.example'], ['claim_window_changed', null], ['claim_revoked', 'xena@claims.example'], ['claim_revoked', 'yan@claims.example'],
    ]);
  } finally {
    // GLOBEX-1 as the other files expect it.
    await apiAs(care, `/v1/sites/${SITE}/claim-window`, { method: 'PUT', body: JSON.stringify({ claim_revocation_days: 7 }) });
    for (const email of ['zoe@claims.example', 'xena@claims.example', 'yan@claims.example', ADMIN]) {
      await apiAs(care, `/v1/sites/${SITE}/members/${encodeURIComponent(email)}`, { method: 'DELETE' });
    }
  }
});

test('"Show more claims" follows next_cursor, and the claims fit 375 px', async () => {
  const care = await tokenFor('care@abev.example', true);
  await claimAs('una@claims.example');
  await claimAs('vic@claims.example');
  try {
    await withPage(async (page) => {
      // One claim a page, from the real API: the page asks for 100, the test asks for 1.
      await page.route((url) => url.pathname === `/v1/sites/${SITE}/claims`, async (route) => {
        const url = new URL(route.request().url());
        url.searchParams.set('limit', '1');
        await route.continue({ url: url.toString() });
      });
      await signIn(page, 'care@abev.example', { care: true, hash: '#/manage' });
      await go(page, `#/manage/${SITE}/members`);
      await page.locator('#claims').waitFor();
      assert.equal(await page.locator('#claims tbody tr').count(), 1);
      const more = page.getByRole('button', { name: 'Show more claims' });
      while (await more.count()) {
        const n = await page.locator('#claims tbody tr').count();
        await more.click();
        await page.waitForFunction((before) => document.querySelectorAll('#claims tbody tr').length > before
          || !document.querySelector('#claims + button'), n);
      }
      const listed = await page.locator('#claims tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.claim));
      const api = (await walk(care, `/v1/sites/${SITE}/claims`, 'claims')).map((c) => c.email);
      assert.deepEqual(listed, api);
      assert.ok(listed.includes('una@claims.example') && listed.includes('vic@claims.example'));

      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
      assert.ok(await page.getByRole('button', { name: 'Revoke the claim of una@claims.example' }).isVisible());
      await assertAccessible(page, 'site claims at 375px');
      await screenshot(page, '44-phone-375-site-claims');
      await page.locator('section[aria-labelledby="claims-title"]').screenshot({ path: path.join(screenshots, '45-phone-375-claims-section.png') });
      await page.emulateMedia({ colorScheme: 'dark' });
      await assertAccessible(page, 'site claims at 375px, dark theme');
    }, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  } finally {
    for (const email of ['una@claims.example', 'vic@claims.example']) {
      await apiAs(care, `/v1/sites/${SITE}/claims/${encodeURIComponent(email)}`, { method: 'DELETE' });
    }
  }
});
