// One entitlement: details, licence keys with Copy, and Download (a short-lived link from
// GET /v1/entitlements/{serial}/download, asked for as JSON: checked and audited by the API
// at the click; the page never goes to a download_url the API did not hand out).

import { h, replace, count } from '../dom.js';
import { api, downloadLink } from '../api.js';
import { date, endsHint } from '../format.js';
import { main, setTitle, crumbs, siteHash, accessList, showNotice, showFailure, STATUS_WORDS } from '../ui.js';

function downloadButton(e) {
  const button = h('button', { type: 'button', id: 'download' }, `Download ${e.product}`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const url = await downloadLink(`/v1/entitlements/${encodeURIComponent(e.serial)}/download`);
      if (url) {
        showNotice(`Your download of ${e.product} is starting.`);
        window.location.assign(url);
      } else {
        showNotice('No download is available for this entitlement right now.');
      }
    } catch (err) {
      showFailure(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export async function entitlementView({ serial, current }) {
  const e = await api(`/v1/entitlements/${encodeURIComponent(serial)}`);
  if (!current()) return;
  setTitle(`${e.serial} · My Products`);
  const siteName = e.site ? e.site.name || e.site.support_id : '';
  const item = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  const keys = e.license_keys || [];
  replace(main,
    crumbs(['My Products', '#/products'], e.site ? [siteName, siteHash(e.site.support_id)] : null, [e.serial]),
    h('h1', {}, `${e.product} `, h('span', { class: 'muted' }, `(${e.serial})`)),
    h('dl', { class: 'details', id: 'entitlement' },
      item('Serial', e.serial), item('Product', e.product), item('SKU', e.sku),
      item('Quantity', count(e.quantity)), item('Starts on', date(e.starts_on)), item('Ends on', [date(e.ends_on), e.status === 'upcoming' ? '' : ` (${endsHint(e.ends_on)})`]),
      item('Status', STATUS_WORDS[e.status] || e.status), item('Order', e.order_id),
      item('Account site', e.site ? h('a', { href: siteHash(e.site.support_id) }, `${siteName} (${e.site.support_id})`) : ''),
      item('Why you see it', accessList(e.access))),
    h('h2', {}, 'Licence keys'),
    keys.length
      ? h('ul', { class: 'keys', id: 'license-keys' }, keys.map((k) => h('li', {}, h('code', {}, k), copyButton(k))))
      : h('p', {}, 'This entitlement has no licence key.'),
    h('h2', {}, 'Download'),
    h('p', {}, downloadButton(e)));
}

function copyButton(text) {
  const label = h('span', {}, 'Copy');
  const button = h('button', { type: 'button', class: 'secondary copy' }, label, h('span', { class: 'sr-only' }, ` licence key ${text}`));
  button.addEventListener('click', async () => {
    const ok = await copyText(text);
    label.textContent = ok ? 'Copied' : 'Copy';
    if (ok) button.dataset.copied = text;
    showNotice(ok ? `Licence key ${text} copied to the clipboard.` : 'The licence key could not be copied; select it and copy it by hand.');
  });
  return button;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    area.remove();
    return ok;
  }
}
