// The Settings screen (issue 20, part 2: expiry notices on/off) in headless Chromium against
// the local stack with the worked example seeded (scripts/test-browser.sh): the switch shows
// what GET /v1/me/notices says, toggling it is a PUT that a reload (and the API) still shows,
// with axe-core and at 375 px. Uses oscar@other.example, whose notices setting no other file
// reads, and leaves it as it found it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, signIn, go, screenshot, assertAccessible, tokenFor, apiAs } from './harness.js';

const { withPage } = browserSuite();

const WHO = 'oscar@other.example';

async function notices(token) {
  const { status, body } = await apiAs(token, '/v1/me/notices');
  assert.equal(status, 200, JSON.stringify(body));
  return body.enabled;
}

/** Toggles the switch and waits for the PUT's answer to be shown (the box is enabled again). */
async function toggle(page) {
  const box = page.locator('#notices-enabled');
  const [put] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/me/notices' && r.request().method() === 'PUT'),
    box.click(),
  ]);
  assert.equal(put.status(), 200);
  await page.waitForFunction(() => !document.querySelector('#notices-enabled').disabled);
  return put.json();
}

/** Reloads the page on the Settings screen (the session survives a reload) and waits for it. */
async function reload(page) {
  await page.reload();
  await page.locator('#notices-enabled').waitFor();
}

test('Settings: turning expiry notices off and on again is saved, and a reload shows it', async () => {
  const token = await tokenFor(WHO);
  const initially = await notices(token);
  await withPage(async (page) => {
    await signIn(page, WHO, { hash: '#/settings' });
    await go(page, '#/settings');
    assert.equal(await page.locator('#nav-settings').getAttribute('aria-current'), 'page');
    const box = page.locator('#notices-enabled');
    assert.equal(await box.isChecked(), initially, 'the switch shows what the API says');
    assert.equal(await page.getByLabel('E-mail me before entitlements I can see end').isChecked(), initially, 'the label names the switch');
    await assertAccessible(page, 'settings');
    await screenshot(page, '50-settings');

    try {
      for (const wanted of [!initially, initially]) {
        const saved = await toggle(page);
        assert.equal(saved.enabled, wanted, 'the PUT saved the new setting');
        assert.equal(await box.isChecked(), wanted);
        assert.match(await page.locator('#notices-status').textContent(), wanted ? /^On:/ : /^Off:/);
        assert.equal(await notices(token), wanted, 'the API reads what the page saved');
        await reload(page);
        assert.equal(await page.locator('#notices-enabled').isChecked(), wanted, 'a reload shows the saved setting');
        assert.match(await page.locator('#notices-status').textContent(), wanted ? /^On:/ : /^Off:/);
        if (!wanted) await assertAccessible(page, 'settings, notices off');
      }
    } finally {
      // Leave the setting as found, whatever failed above.
      await apiAs(token, '/v1/me/notices', { method: 'PUT', body: JSON.stringify({ enabled: initially }) });
    }
  });
});

test('Settings: a failed save puts the switch back and says so', async () => {
  const token = await tokenFor(WHO);
  const initially = await notices(token);
  await withPage(async (page) => {
    await signIn(page, WHO, { hash: '#/settings' });
    await go(page, '#/settings');
    await page.route((url) => url.pathname === '/v1/me/notices', (route) => (route.request().method() === 'PUT'
      ? route.fulfill({ status: 503, contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'try again' }) })
      : route.fallback()));
    const box = page.locator('#notices-enabled');
    await box.click();
    await page.waitForFunction((was) => !document.querySelector('#notices-enabled').disabled
      && document.querySelector('#notices-enabled').checked === was, initially);
    assert.equal(await box.isChecked(), initially, 'the switch shows the setting that still holds');
    assert.match(await page.locator('#alert').textContent(), /\S/, 'the failure is announced (role=alert)');
    assert.equal(await notices(token), initially, 'nothing was saved');
  });
});

test('Settings is usable at 375 px wide', async () => {
  await withPage(async (page) => {
    await signIn(page, WHO, { hash: '#/settings' });
    await go(page, '#/settings');
    await page.locator('#notices-enabled').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
    await assertAccessible(page, 'settings at 375px');
    await screenshot(page, '51-phone-375-settings');
  }, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
});
