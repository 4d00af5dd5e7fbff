// Settings: the caller's expiry notices (GET/PUT /v1/me/notices) — whether the daily digest
// of entitlements ending within 90, 30 and 7 days is e-mailed. The digest's own unsubscribe
// link turns the same setting off without a sign-in.

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { main, setTitle, showFailure } from '../ui.js';

/** The sentence under the switch, for a setting. */
export function noticesStatus(enabled) {
  return enabled
    ? 'On: you get one e-mail a day at most, when something you can see ends within 90, 30 or 7 days.'
    : 'Off: you get no expiry e-mails. The Renewals tab still shows what ends soon.';
}

export async function settingsView({ current }) {
  const setting = await api('/v1/me/notices');
  if (!current()) return;
  setTitle('Settings');
  const box = h('input', { type: 'checkbox', id: 'notices-enabled', name: 'enabled', checked: Boolean(setting.enabled) });
  const status = h('p', { id: 'notices-status', role: 'status' }, noticesStatus(setting.enabled));
  box.addEventListener('change', async () => {
    const wanted = box.checked;
    box.disabled = true;
    try {
      const saved = await api('/v1/me/notices', { method: 'PUT', body: { enabled: wanted } });
      box.checked = Boolean(saved.enabled);
      replace(status, noticesStatus(saved.enabled));
    } catch (e) {
      box.checked = !wanted;
      showFailure(e);
    } finally {
      box.disabled = false;
    }
  });
  replace(main,
    h('h1', {}, 'Settings'),
    h('section', { class: 'settings', 'aria-labelledby': 'notices-heading' },
      h('h2', { id: 'notices-heading' }, 'Expiry notices'),
      h('div', { class: 'field' }, box, h('label', { for: 'notices-enabled' }, ' E-mail me before entitlements I can see end')),
      status));
}
