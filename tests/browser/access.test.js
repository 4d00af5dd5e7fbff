// Access that runs itself (issue 21) in headless Chromium against the local stack with the
// worked example seeded (scripts/test-browser.sh): the claim form on Site Management, and a
// site's page with its end dates, domain rules, invitations, access review and history —
// each checked against the API, with axe-core, and at 375 px. Uses GLOBEX-1 (claim) and
// OTHER-1 (administration), which the other files' assertions do not depend on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, signIn, go, screenshot, assertAccessible, tokenFor, apiAs } from './harness.js';

const { withPage } = browserSuite();

test('a serial and its order number make the claimant a member at once, and one answer for a wrong pair', async () => {
  await withPage(async (page) => {
    await signIn(page, 'zed@claim.example', { hash: '#/manage' });
    await page.locator('#claim-form').waitFor();
    await assertAccessible(page, 'Site Management with the claim form');
    await page.getByLabel('Serial number', { exact: true }).fill('S5');
    await page.getByLabel('Order number', { exact: true }).fill('O-9');
    await page.getByRole('button', { name: 'Claim' }).click();
    await page.locator('#alert, #notice').getByText(/no claimable entitlement/i).waitFor();
    await page.getByLabel('Order number', { exact: true }).fill('O-3');
    await page.getByRole('button', { name: 'Claim' }).click();
    await page.locator('#notice').getByText(/You are now a member of Globex Corp \(GLOBEX-1\)/).waitFor();
    assert.match(await page.locator('#my-sites tr', { hasText: 'GLOBEX-1' }).textContent(), /User/);
    await screenshot(page, '40-claim');
  });
  const sites = (await apiAs(await tokenFor('zed@claim.example'), '/v1/sites')).body.sites;
  assert.deepEqual(sites.map((s) => [s.support_id, s.role]), [['GLOBEX-1', 'user']]);
});

test('a site page: domain rules, invitations, the review and the history, as the API has them', async () => {
  const care = await tokenFor('care@abev.example', true);
  await withPage(async (page) => {
    await signIn(page, 'care@abev.example', { care: true, hash: '#/manage' });
    await go(page, '#/manage/OTHER-1/members');
    await page.locator('#members').waitFor();
    await assertAccessible(page, 'site page');

    // A public mail provider is refused; the site's own domain is added.
    await page.getByLabel('Mail domain').fill('gmail.com');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.locator('#alert, #notice').getByText(/public mail provider/).waitFor();
    await page.getByLabel('Mail domain').fill('other.example');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.locator('#notice').getByText('Verified addresses at @other.example are now approved at once for OTHER-1.').waitFor();
    await page.locator('#domain-rules tr[data-rule="other.example"]').waitFor();

    // An invitation, listed with its expiry.
    await page.getByLabel('E-mail address').fill('ivy@newco.example');
    await page.getByLabel('Role', { exact: true }).selectOption('admin');
    await page.getByRole('button', { name: 'Invite' }).click();
    await page.locator('#notice').getByText(/ivy@newco.example is invited to OTHER-1/).waitFor();
    assert.match(await page.locator('#invitations tr[data-invitation="ivy@newco.example"]').textContent(), /Site administrator/);

    // A review every 30 days; oscar confirmed.
    await page.getByLabel('Review every (days; empty: never)').fill('30');
    await page.getByRole('button', { name: 'Save' }).first().waitFor();
    await page.locator('#review-form').getByRole('button', { name: 'Save' }).click();
    await page.locator('#notice').getByText(/OTHER-1 is reviewed every 30 days/).waitFor();
    await page.getByRole('button', { name: 'Confirm oscar@other.example' }).click();
    await page.locator('#notice').getByText('oscar@other.example is confirmed in the review of OTHER-1.').waitFor();
    assert.match(await page.locator('#review tr[data-review="oscar@other.example"]').textContent(), /by care@abev.example/);

    // The history says who did what, newest first.
    const actions = await page.locator('#history tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    assert.deepEqual(actions.slice(0, 4), ['review_confirmed', 'review_schedule_changed', 'invited', 'domain_rule_added']);
    await assertAccessible(page, 'site page with rules, invitations and a review');
    await screenshot(page, '41-site-administration');

    // The rule and the invitation go again.
    await page.getByRole('button', { name: 'Withdraw the invitation of ivy@newco.example' }).click();
    await page.locator('#notice').getByText('The invitation of ivy@newco.example was withdrawn.').waitFor();
    await page.getByRole('button', { name: 'Remove the rule for @other.example' }).click();
    await page.locator('#notice').getByText(/The rule for @other.example was removed/).waitFor();
  });
  assert.deepEqual((await apiAs(care, '/v1/sites/OTHER-1/domain-rules')).body.rules, []);
  assert.deepEqual((await apiAs(care, '/v1/sites/OTHER-1/invitations')).body.invitations, []);
  const review = (await apiAs(care, '/v1/sites/OTHER-1/review')).body;
  assert.equal(review.every_days, 30);
  assert.deepEqual(review.members.map((m) => [m.email, Boolean(m.confirmed_at)]), [['oscar@other.example', true]]);
  // Off again, for whoever runs next.
  assert.equal((await apiAs(care, '/v1/sites/OTHER-1/review-schedule', { method: 'PUT', body: JSON.stringify({ every_days: null }) })).status, 200);
});

test('an end date on a member is set from the site page', async () => {
  await withPage(async (page) => {
    await signIn(page, 'care@abev.example', { care: true, hash: '#/manage' });
    await go(page, '#/manage/OTHER-1/members');
    const form = page.locator('#members form[data-ends="oscar@other.example"]');
    const day = new Date(Date.now() + 60 * 86_400_000).toISOString().slice(0, 10);
    await form.getByLabel('End date of oscar@other.example').fill(day);
    await form.getByRole('button', { name: 'Save' }).click();
    await page.locator('#notice').getByText(`oscar@other.example's membership of OTHER-1 ends on ${day}.`).waitFor();
    const members = (await apiAs(await tokenFor('care@abev.example', true), '/v1/sites/OTHER-1/members')).body.members;
    assert.equal(members.find((m) => m.email === 'oscar@other.example').ends_at.slice(0, 10), day);
    // Cleared again: oscar's view is what the other files expect.
    await page.locator('#members form[data-ends="oscar@other.example"]').getByLabel('End date of oscar@other.example').fill('');
    await page.locator('#members form[data-ends="oscar@other.example"]').getByRole('button', { name: 'Save' }).click();
    await page.locator('#notice').getByText("oscar@other.example's membership of OTHER-1 has no end date now.").waitFor();
  });
});

test('the site page is usable at 375 px wide', async () => {
  await withPage(async (page) => {
    await signIn(page, 'care@abev.example', { care: true, hash: '#/manage' });
    await go(page, '#/manage/OTHER-1/members');
    await page.locator('#members').waitFor();
    await page.locator('#history-title').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
    await assertAccessible(page, 'site page at 375px');
    await screenshot(page, '42-phone-375-site-administration');
    await go(page, '#/manage');
    await page.locator('#claim-form').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  }, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
});
