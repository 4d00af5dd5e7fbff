// The ABEV customer-portal tab: My Products (the caller's view, entitlements, licence keys,
// CSV export) and Site Management (memberships, access requests, approvals, members).
// Plain ES modules, no build step; hash routes so every screen has a URL:
//   #/products                      the account sites of my view
//   #/products/SITE?q=&status=&ends_before=   a site's entitlements
//   #/entitlements/SERIAL           one entitlement with its licence keys
//   #/manage                        my sites, requests and approvals
//   #/manage/SITE/members           a site's members (site admins, Care)

import { h, replace, table, tableRow, count } from './dom.js';
import { api, configure, withQuery, pages } from './api.js';
import * as auth from './auth.js';
import { exportCsv, fileName } from './csv.js';

const main = document.getElementById('main');
const alertBox = document.getElementById('alert');
const noticeBox = document.getElementById('notice');

let config = null;
let renderSeq = 0;
let pendingNotice = '';
let pendingAlert = '';
let activeExport = null;
let lastDownloadUrl = null;

/** Why the caller sees something, in words a customer understands. */
export const ACCESS_WORDS = {
  member: 'You are a member of this account site',
  ship_to: 'Shipped to you (you are the ship-to contact on the order)',
  reseller: 'Sold through your reseller account',
};

const STATUS_WORDS = { active: 'Active', expired: 'Expired', upcoming: 'Not started yet' };
const ROLE_WORDS = { user: 'User', admin: 'Site administrator' };
const REQUEST_STATE_WORDS = {
  pending_admin: 'Waiting for a site administrator',
  escalated: 'Waiting for Customer Care',
  approved: 'Approved',
  rejected: 'Rejected',
};
/** Sites per page of My Products (the API's largest page: a reseller's 500 sites at once). */
const SITES_PAGE = 500;
const KIND_WORDS = { join: 'Join the site', role_change: 'Change of role' };

// ---- start ---------------------------------------------------------------------------

boot();

async function boot() {
  document.getElementById('skip').addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    config = await response.json();
    if (!config || !config.auth || !['local', 'oidc'].includes(config.auth.mode)) throw new Error('unknown auth mode');
  } catch {
    replace(main, h('h1', { tabindex: '-1' }, 'The page could not start'),
      h('p', {}, 'Its settings (config.json) could not be loaded. Please try again later.'));
    return;
  }
  configure({ apiBase: String(config.api_base || '').replace(/\/+$/, ''), getToken: auth.token, onUnauthorized: sessionEnded });
  if (config.auth.mode === 'oidc') {
    try {
      const done = await auth.completeSignIn(config.auth, window.location.href);
      if (done) history.replaceState(null, '', window.location.pathname + done.returnTo);
    } catch (e) {
      history.replaceState(null, '', window.location.pathname + window.location.hash);
      pendingAlert = e.message;
    }
  }
  window.addEventListener('hashchange', () => render(true));
  render(false);
}

function sessionEnded() {
  auth.signOut();
  pendingAlert = 'Your session has ended. Please sign in again; you will come back to this page.';
  render(true);
}

// ---- messages ------------------------------------------------------------------------

function showAlert(message) {
  replace(alertBox, message ? h('p', {}, message) : '');
}

function showNotice(message) {
  replace(noticeBox, message ? h('p', {}, message) : '');
}

/** Shows a failed call: a 401 is handled by sessionEnded, an abort is silent. */
function showFailure(e) {
  if (e && e.name === 'AbortError') return;
  if (e && e.status === 401) return;
  showAlert(e && e.message ? e.message : 'Something went wrong. Please try again.');
}

// ---- routing -------------------------------------------------------------------------

export function parseHash(hash) {
  const raw = String(hash || '').replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const segments = path.split('/').filter(Boolean).map((s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  });
  return { segments, params: new URLSearchParams(query) };
}

function route(segments) {
  const [first, second, third] = segments;
  if (!first || (first === 'products' && segments.length === 1)) return { tab: 'products', view: productsView };
  if (first === 'products' && segments.length === 2) return { tab: 'products', view: siteView, site: second };
  if (first === 'entitlements' && segments.length === 2) return { tab: 'products', view: entitlementView, serial: second };
  if (first === 'manage' && segments.length === 1) return { tab: 'manage', view: manageView };
  if (first === 'manage' && third === 'members' && segments.length === 3) return { tab: 'manage', view: membersView, site: second };
  return { tab: null, view: unknownView };
}

/** Shows the screen of the current hash route. moveFocus: false, true (the heading) or 'notice'. */
async function render(moveFocus) {
  const seq = ++renderSeq;
  const current = () => seq === renderSeq;
  if (activeExport) activeExport.abort();
  // A notice (the outcome of an action) is shown with the screen it leads to, not before.
  const notice = pendingNotice;
  showAlert(pendingAlert);
  showNotice('');
  pendingAlert = '';
  pendingNotice = '';
  const session = auth.currentSession();
  updateHeader(session, null);
  if (!session) {
    showNotice(notice);
    signInView();
    if (moveFocus) focusHeading();
    main.dataset.render = String(seq);
    return;
  }
  const { segments, params } = parseHash(window.location.hash);
  const r = route(segments);
  updateHeader(session, r.tab);
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  main.setAttribute('aria-busy', 'true');
  try {
    await r.view({ ...r, params, current });
  } catch (e) {
    if (!current()) return;
    if (e && e.status === 401) return;
    failureView(e);
  } finally {
    if (current()) main.removeAttribute('aria-busy');
  }
  if (!current()) return;
  showNotice(notice);
  // After an action, focus goes to its outcome; after a navigation, to the new heading.
  if (moveFocus === 'notice' && notice) noticeBox.focus();
  else if (moveFocus) focusHeading();
  // Which render the screen shows (tests wait on it).
  main.dataset.render = String(seq);
}

function focusHeading() {
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
}

function navigate(hash) {
  if (window.location.hash === hash) render(true);
  else window.location.hash = hash;
}

function setTitle(text) {
  document.title = `${text} · ABEV`;
}

function updateHeader(session, tab) {
  const nav = document.getElementById('nav');
  nav.hidden = !session;
  for (const [id, name] of [['nav-products', 'products'], ['nav-manage', 'manage']]) {
    const link = document.getElementById(id);
    if (tab === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const who = document.getElementById('who');
  if (!session) {
    replace(who);
    return;
  }
  replace(who,
    h('span', { class: 'email' }, session.email || 'Signed in'),
    session.care ? h('span', { class: 'badge' }, 'Customer Care') : '',
    h('button', { type: 'button', class: 'link-button', onclick: () => { auth.signOut(); pendingNotice = 'You are signed out.'; render(true); } }, 'Sign out'));
}

function failureView(e) {
  const titles = { 404: 'Not found', 403: 'Not allowed', 400: 'That did not work' };
  const title = titles[e && e.status] || 'Something went wrong';
  setTitle(title);
  replace(main,
    h('h1', {}, title),
    h('p', { class: 'failure' }, e && e.message ? e.message : 'Something went wrong. Please try again.'),
    h('p', {}, h('a', { href: '#/products' }, 'Back to My Products')));
}

function unknownView() {
  setTitle('Not found');
  replace(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page.'), h('p', {}, h('a', { href: '#/products' }, 'Go to My Products')));
}

function crumbs(...items) {
  return h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    h('ol', {}, items.filter(Boolean).map(([label, href]) => h('li', {}, href ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label)))));
}

function siteHash(site, params) {
  const q = params ? params.toString() : '';
  return `#/products/${encodeURIComponent(site)}${q ? `?${q}` : ''}`;
}

function accessList(access) {
  return h('ul', { class: 'access' }, (access || []).map((a) => h('li', { 'data-access': a }, ACCESS_WORDS[a] || a)));
}

function formatTime(iso) {
  if (!iso) return '';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(String(iso));
  return m ? `${m[1]} ${m[2]} UTC` : String(iso);
}

/** A "Show more" button that loads the next page and appends its rows. */
function moreButton(label, load) {
  const button = h('button', { type: 'button', class: 'secondary' }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Loading…';
    try {
      const hasMore = await load();
      if (hasMore) {
        button.disabled = false;
        button.textContent = label;
      } else {
        button.remove();
      }
    } catch (e) {
      button.disabled = false;
      button.textContent = label;
      showFailure(e);
    }
  });
  return button;
}

// ---- sign-in -------------------------------------------------------------------------

function signInView() {
  setTitle('Sign in');
  if (config.auth.mode === 'oidc') {
    const button = h('button', { type: 'button' }, 'Sign in');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await auth.beginSignIn(config.auth, window.location.hash || '#/products');
      } catch (e) {
        button.disabled = false;
        showAlert(e.message);
      }
    });
    replace(main, h('h1', {}, 'Sign in'),
      h('p', {}, 'Sign in with your company account to see your products and manage your site access.'), button);
    return;
  }
  const email = h('input', { id: 'signin-email', name: 'email', type: 'email', autocomplete: 'email', required: true, spellcheck: 'false' });
  const care = h('input', { id: 'signin-care', name: 'care', type: 'checkbox' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('div', { class: 'field' }, h('label', { for: 'signin-email' }, 'E-mail'), email),
    h('div', { class: 'check' }, care, h('label', { for: 'signin-care' }, 'Customer Care agent')),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    showAlert('');
    try {
      await auth.localSignIn(String(config.api_base || '').replace(/\/+$/, ''), email.value, care.checked);
      render(true);
    } catch (err) {
      submit.disabled = false;
      showAlert(err.message);
      email.focus();
    }
  });
  replace(main, h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'hint' }, 'Local development sign-in: type the e-mail of any contact (for example mary@skynet.example). It works only on the local host.'),
    form);
}

// ---- My Products -----------------------------------------------------------------------

async function productsView({ current }) {
  const first = await api(withQuery('/v1/view', { limit: SITES_PAGE }));
  if (!current()) return;
  setTitle('My Products');
  const columns = ['Account site', 'Support ID', 'Entitlements', 'Why you see it'];
  const siteRow = (s) => tableRow(columns, [
    h('a', { href: siteHash(s.support_id) }, s.name || s.support_id),
    s.support_id,
    count(s.entitlement_count),
    accessList(s.access),
  ], { 'data-site': s.support_id });
  const content = [
    h('h1', {}, 'My Products'),
    h('p', { class: 'intro' }, 'The account sites whose products you can see, with the number of entitlements under each and why you see them.'),
    findSerialForm(),
  ];
  if (!first.sites.length) {
    content.push(h('p', { class: 'empty', id: 'empty-view' },
      'You have no products to show yet. If your organisation owns products, ask for access to its account site under ',
      h('a', { href: '#/manage' }, 'Site Management'), '.'));
    replace(main, ...content);
    return;
  }
  const tbl = table('Account sites in your view', columns, first.sites.map(siteRow), { id: 'sites-table', class: 'data' });
  const tbody = tbl.querySelector('tbody');
  let cursor = first.next_cursor;
  content.push(exportPanel(null, 'Export all entitlements (CSV)'), tbl);
  if (cursor) {
    content.push(moreButton('Show more sites', async () => {
      const page = await api(withQuery('/v1/view', { limit: SITES_PAGE, cursor }));
      page.sites.forEach((s) => tbody.append(siteRow(s)));
      cursor = page.next_cursor;
      return Boolean(cursor);
    }));
  }
  replace(main, ...content);
}

function findSerialForm() {
  const input = h('input', { id: 'find-serial', name: 'serial', type: 'search', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Find a serial number' },
    h('div', { class: 'field' }, h('label', { for: 'find-serial' }, 'Go to a serial number'), input),
    h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const serial = input.value.trim();
    if (serial) navigate(`#/entitlements/${encodeURIComponent(serial)}`);
  });
  return form;
}

async function siteView({ site, params, current }) {
  const filters = { q: params.get('q') || '', status: params.get('status') || '', ends_before: params.get('ends_before') || '' };
  const path = `/v1/view/sites/${encodeURIComponent(site)}/entitlements`;
  const first = await api(withQuery(path, { ...filters, limit: 100 }));
  if (!current()) return;
  const name = first.site.name || first.site.support_id;
  const id = first.site.support_id;
  setTitle(`${name} · My Products`);
  const columns = ['Serial', 'SKU', 'Product', 'Quantity', 'Starts on', 'Ends on', 'Status', 'Order', 'Why you see it'];
  const row = (e) => tableRow(columns, [
    h('a', { href: `#/entitlements/${encodeURIComponent(e.serial)}` }, e.serial),
    e.sku, e.product, count(e.quantity), e.starts_on, e.ends_on,
    h('span', { class: `status status-${e.status}` }, STATUS_WORDS[e.status] || e.status),
    e.order_id, accessList(e.access),
  ], { 'data-serial': e.serial });
  const filtered = Boolean(filters.q || filters.status || filters.ends_before);
  let shown = first.entitlements.length;
  const shownText = h('p', { class: 'shown', id: 'shown' });
  let cursor = first.next_cursor;
  const updateShown = () => {
    shownText.textContent = `Showing ${count(shown)} entitlement${shown === 1 ? '' : 's'}${cursor ? ' (more below)' : ''}${filtered ? ' matching the filters' : ''}.`;
  };
  updateShown();
  const content = [
    crumbs(['My Products', '#/products'], [name]),
    h('h1', {}, `${name} `, h('span', { class: 'muted' }, `(${id})`)),
    filterForm(id, filters),
    exportPanel([id], 'Export this site (CSV)'),
    shownText,
  ];
  if (!first.entitlements.length) {
    content.push(h('p', { class: 'empty' }, filtered ? 'No entitlements match these filters.' : 'No entitlements to show.'));
    replace(main, ...content);
    return;
  }
  const tbl = table(`Entitlements of ${name}`, columns, first.entitlements.map(row), { id: 'entitlements-table', class: 'data' });
  const tbody = tbl.querySelector('tbody');
  content.push(tbl);
  if (cursor) {
    content.push(moreButton('Show more entitlements', async () => {
      const page = await api(withQuery(path, { ...filters, limit: 100, cursor }));
      page.entitlements.forEach((e) => tbody.append(row(e)));
      shown += page.entitlements.length;
      cursor = page.next_cursor;
      updateShown();
      return Boolean(cursor);
    }));
  }
  replace(main, ...content);
}

function filterForm(site, filters) {
  const q = h('input', { id: 'filter-q', name: 'q', type: 'search', value: filters.q, maxlength: '200', autocomplete: 'off' });
  const status = h('select', { id: 'filter-status', name: 'status' },
    [['', 'Any status'], ['active', 'Active'], ['expired', 'Expired'], ['upcoming', 'Not started yet']]
      .map(([v, label]) => h('option', { value: v, selected: v === filters.status }, label)));
  const endsBefore = h('input', { id: 'filter-ends-before', name: 'ends_before', type: 'date', value: filters.ends_before });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter entitlements' },
    h('div', { class: 'field' }, h('label', { for: 'filter-q' }, 'Search serial, SKU or product'), q),
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'filter-ends-before' }, 'Ends before'), endsBefore),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: siteHash(site), class: 'button-like secondary' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('q', q.value.trim());
    if (status.value) p.set('status', status.value);
    if (endsBefore.value) p.set('ends_before', endsBefore.value);
    navigate(siteHash(site, p));
  });
  return form;
}

async function entitlementView({ serial, current }) {
  const e = await api(`/v1/entitlements/${encodeURIComponent(serial)}`);
  if (!current()) return;
  setTitle(`${e.serial} · My Products`);
  const siteName = e.site ? e.site.name || e.site.support_id : '';
  const item = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  const keys = e.license_keys || [];
  const safeDownload = typeof e.download_url === 'string' && /^https?:\/\//i.test(e.download_url);
  replace(main,
    crumbs(['My Products', '#/products'], e.site ? [siteName, siteHash(e.site.support_id)] : null, [e.serial]),
    h('h1', {}, `${e.product} `, h('span', { class: 'muted' }, `(${e.serial})`)),
    h('dl', { class: 'details', id: 'entitlement' },
      item('Serial', e.serial), item('Product', e.product), item('SKU', e.sku),
      item('Quantity', count(e.quantity)), item('Starts on', e.starts_on), item('Ends on', e.ends_on),
      item('Status', STATUS_WORDS[e.status] || e.status), item('Order', e.order_id),
      item('Account site', e.site ? h('a', { href: siteHash(e.site.support_id) }, `${siteName} (${e.site.support_id})`) : ''),
      item('Why you see it', accessList(e.access))),
    h('h2', {}, 'Licence keys'),
    keys.length
      ? h('ul', { class: 'keys', id: 'license-keys' }, keys.map((k) => h('li', {}, h('code', {}, k), copyButton(k))))
      : h('p', {}, 'This entitlement has no licence key.'),
    h('h2', {}, 'Download'),
    e.download_url
      ? (safeDownload
        ? h('p', {}, h('a', { href: e.download_url, id: 'download', rel: 'noopener noreferrer', target: '_blank' }, `Download ${e.product}`), ' (opens in a new tab)')
        : h('p', {}, e.download_url))
      : h('p', {}, 'No download for this entitlement.'));
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

// ---- export --------------------------------------------------------------------------

function exportPanel(siteIds, label) {
  const start = h('button', { type: 'button', class: 'secondary', id: 'export-start' }, label);
  const panel = h('section', { class: 'export', 'aria-label': 'Export' }, start);
  const progress = h('progress', { id: 'export-progress', max: '1', value: '0', 'aria-label': 'Export progress' });
  const text = h('p', { id: 'export-status', role: 'status' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'export-cancel' }, 'Cancel export');
  start.addEventListener('click', async () => {
    if (activeExport) activeExport.abort();
    const controller = new AbortController();
    activeExport = controller;
    start.disabled = true;
    cancel.disabled = false;
    panel.querySelector('.export-done')?.remove();
    progress.removeAttribute('value');
    text.textContent = 'Starting the export…';
    panel.append(progress, text, cancel);
    cancel.onclick = () => controller.abort();
    try {
      const result = await exportCsv({
        siteIds,
        signal: controller.signal,
        onProgress: ({ sites, sitesDone, rows, listed }) => {
          if (sites === null) {
            text.textContent = `Listing account sites: ${count(listed)} so far…`;
            return;
          }
          progress.max = sites;
          progress.value = sitesDone;
          text.textContent = `Exported ${count(rows)} entitlements from ${count(sitesDone)} of ${count(sites)} account site${sites === 1 ? '' : 's'}…`;
        },
      });
      if (lastDownloadUrl) URL.revokeObjectURL(lastDownloadUrl);
      lastDownloadUrl = URL.createObjectURL(result.blob);
      const name = fileName(siteIds && siteIds.length === 1 ? siteIds[0] : null);
      progress.remove();
      cancel.remove();
      text.textContent = `Export ready: ${count(result.rows)} entitlements from ${count(result.sites)} account site${result.sites === 1 ? '' : 's'}.`;
      const link = h('a', { href: lastDownloadUrl, download: name, id: 'export-download', class: 'export-done' }, `Download ${name}`);
      panel.append(link);
      link.click();
    } catch (e) {
      progress.remove();
      cancel.remove();
      if (e && e.name === 'AbortError') text.textContent = 'Export cancelled.';
      else if (e && e.status === 401) text.textContent = '';
      else text.textContent = `The export failed: ${e && e.message ? e.message : 'please try again.'}`;
    } finally {
      if (activeExport === controller) activeExport = null;
      start.disabled = false;
    }
  });
  return panel;
}

// ---- Site Management -------------------------------------------------------------------

async function manageView({ current }) {
  const session = auth.currentSession();
  const allSites = async () => {
    const out = [];
    for await (const page of pages('/v1/sites', { limit: 500 })) out.push(...page.sites);
    return { sites: out };
  };
  const [sites, requests, approvals] = await Promise.all([
    allSites(),
    api(withQuery('/v1/access-requests', { limit: 100 })),
    api(withQuery('/v1/approvals', { limit: 100 })).catch((e) => (e.status === 403 ? null : Promise.reject(e))),
  ]);
  if (!current()) return;
  setTitle('Site Management');
  const isAdmin = sites.sites.some((s) => s.role === 'admin');
  const content = [
    h('h1', {}, 'Site Management'),
    h('section', { 'aria-labelledby': 'my-sites-title' },
      h('h2', { id: 'my-sites-title' }, 'My account sites'),
      sites.sites.length
        ? table('Account sites you are a member of', ['Account site', 'Support ID', 'Your role', 'Member since', 'Members'],
          sites.sites.map((s) => [s.name || s.support_id, s.support_id, ROLE_WORDS[s.role] || s.role, formatTime(s.since),
            s.role === 'admin' || session.care ? h('a', { href: `#/manage/${encodeURIComponent(s.support_id)}/members` }, `Members of ${s.support_id}`) : '—']),
          { id: 'my-sites', class: 'data' })
        : h('p', { class: 'empty' }, 'You are not a member of any account site yet.')),
    requestForm(),
    myRequestsSection(requests),
  ];
  if (approvals && (approvals.requests.length || isAdmin || session.care)) {
    content.push(approvalsSection(approvals, session.care));
  }
  if (session.care) content.push(careMembersForm());
  replace(main, ...content);
}

/** A "Show more" button for a list whose next page starts at `cursor` (none at the end). */
function showMore(label, cursor, path, onPage) {
  if (!cursor) return '';
  let next = cursor;
  return moreButton(label, async () => {
    const page = await api(withQuery(path, { limit: 100, cursor: next }));
    onPage(page);
    next = page.next_cursor;
    return Boolean(next);
  });
}

function myRequestsSection(first) {
  const columns = ['Account site', 'Request', 'Role', 'State', 'Requested', 'Decided by', 'Reason'];
  const row = (r) => tableRow(columns, [`${r.site_name || r.support_id} (${r.support_id})`, KIND_WORDS[r.kind] || r.kind,
    ROLE_WORDS[r.requested_role] || r.requested_role, stateBadge(r.status), formatTime(r.created_at), r.decided_by || '—', r.reason || '—'],
  { 'data-request': r.request_id, 'data-site': r.support_id });
  const section = h('section', { 'aria-labelledby': 'my-requests-title' }, h('h2', { id: 'my-requests-title' }, 'My requests'));
  if (!first.requests.length) {
    section.append(h('p', { class: 'empty' }, 'You have not asked for access to any site.'));
    return section;
  }
  const tbl = table('Your access requests', columns, first.requests.map(row), { id: 'my-requests', class: 'data' });
  section.append(tbl);
  const more = showMore('Show more requests', first.next_cursor, '/v1/access-requests', (page) => tbl.tBodies[0].append(...page.requests.map(row)));
  if (more) section.append(more);
  return section;
}

function stateBadge(status) {
  return h('span', { class: `state state-${status}` }, REQUEST_STATE_WORDS[status] || status);
}

function roleSelect(id, selected) {
  return h('select', { id, name: 'role' },
    Object.entries(ROLE_WORDS).map(([v, label]) => h('option', { value: v, selected: v === selected }, label)));
}

function requestForm() {
  const support = h('input', { id: 'request-site', name: 'support_id', required: true, maxlength: '32', pattern: '[A-Za-z0-9\\-]{1,32}',
    autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'request-site-hint' });
  const role = roleSelect('request-role', 'user');
  const submit = h('button', { type: 'submit' }, 'Request access');
  const form = h('form', { class: 'request', id: 'request-form' },
    h('div', { class: 'field' }, h('label', { for: 'request-site' }, 'Support ID'), support,
      h('p', { class: 'hint', id: 'request-site-hint' }, 'The Support ID of the account site, for example ACME-1 (letters, digits and dashes).')),
    h('div', { class: 'field' }, h('label', { for: 'request-role' }, 'Role'), role),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const { status, body: request } = await api('/v1/access-requests',
        { method: 'POST', body: { support_id: support.value.trim(), role: role.value }, withStatus: true });
      const where = request.status === 'escalated'
        ? 'This site has no administrator, so Customer Care will decide it.'
        : request.status === 'pending_admin' ? 'A site administrator will decide it.' : `Its state: ${REQUEST_STATE_WORDS[request.status] || request.status}.`;
      const site = `${request.support_id} (${request.site_name || request.support_id})`;
      // 201: a new request; 200: the open one the caller already had (spec §5).
      pendingNotice = status === 201
        ? `Your request for ${site} is sent. ${where}`
        : `You already have an open request for ${site}; it was not sent again. ${where}`;
      render('notice');
    } catch (err) {
      submit.disabled = false;
      showFailure(err);
    }
  });
  return h('section', { 'aria-labelledby': 'request-title' }, h('h2', { id: 'request-title' }, 'Request Additional Site Access'), form);
}

function approvalsSection(first, care) {
  const columns = ['Requested by', 'Account site', 'Request', 'Role', 'State', 'Requested', 'Decision'];
  const row = (r) => tableRow(columns, [
    r.requester_email, `${r.site_name || r.support_id} (${r.support_id})`, KIND_WORDS[r.kind] || r.kind,
    ROLE_WORDS[r.requested_role] || r.requested_role, stateBadge(r.status), formatTime(r.created_at), decisionForms(r, care),
  ], { 'data-request': r.request_id, 'data-requester': r.requester_email, 'data-site': r.support_id });
  const section = h('section', { 'aria-labelledby': 'approvals-title' },
    h('h2', { id: 'approvals-title' }, care ? 'Approvals waiting (including requests escalated to Customer Care)' : 'Approvals waiting for you'));
  if (!first.requests.length) {
    section.append(h('p', { class: 'empty' }, 'Nothing is waiting for your decision.'));
    return section;
  }
  const tbl = table('Access requests you may decide', columns, first.requests.map(row), { id: 'approvals', class: 'data' });
  section.append(tbl);
  const more = showMore('Show more requests to decide', first.next_cursor, '/v1/approvals', (page) => tbl.tBodies[0].append(...page.requests.map(row)));
  if (more) section.append(more);
  return section;
}

function decisionForms(r, care) {
  const base = `decide-${r.request_id.replace(/[^A-Za-z0-9_-]/g, '')}`;
  const who = `${r.requester_email} for ${r.support_id}`;
  const approve = h('form', { class: 'decide approve', 'aria-label': `Approve ${who}` });
  let role = null;
  if (care) {
    role = roleSelect(`${base}-role`, r.requested_role);
    approve.append(h('div', { class: 'field' }, h('label', { for: `${base}-role` }, 'Approve as'), role));
  }
  approve.append(h('button', { type: 'submit' }, 'Approve', h('span', { class: 'sr-only' }, ` ${who}`)));
  approve.addEventListener('submit', async (e) => {
    e.preventDefault();
    approve.querySelector('button').disabled = true;
    try {
      const decided = await api(`/v1/access-requests/${encodeURIComponent(r.request_id)}/approve`,
        { method: 'POST', body: role ? { role: role.value } : {} });
      const granted = role ? role.value : decided.requested_role;
      pendingNotice = `Approved: ${decided.requester_email} is now ${granted === 'admin' ? 'a site administrator' : 'a user'} of ${decided.support_id}.`;
      render('notice');
    } catch (err) {
      approve.querySelector('button').disabled = false;
      showFailure(err);
    }
  });
  const reason = h('input', { id: `${base}-reason`, name: 'reason', required: true, maxlength: '500', autocomplete: 'off' });
  const reject = h('form', { class: 'decide reject', 'aria-label': `Reject ${who}` },
    h('div', { class: 'field' }, h('label', { for: `${base}-reason` }, 'Reason for rejecting'), reason),
    h('button', { type: 'submit', class: 'danger' }, 'Reject', h('span', { class: 'sr-only' }, ` ${who}`)));
  reject.addEventListener('submit', async (e) => {
    e.preventDefault();
    reject.querySelector('button').disabled = true;
    try {
      const decided = await api(`/v1/access-requests/${encodeURIComponent(r.request_id)}/reject`, { method: 'POST', body: { reason: reason.value.trim() } });
      pendingNotice = `Rejected the request of ${decided.requester_email} for ${decided.support_id}.`;
      render('notice');
    } catch (err) {
      reject.querySelector('button').disabled = false;
      showFailure(err);
    }
  });
  return h('div', { class: 'decisions' }, approve, reject);
}

function careMembersForm() {
  const input = h('input', { id: 'care-members-site', name: 'support_id', required: true, maxlength: '32', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'inline' },
    h('div', { class: 'field' }, h('label', { for: 'care-members-site' }, 'Support ID'), input),
    h('button', { type: 'submit' }, 'Show members'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) navigate(`#/manage/${encodeURIComponent(input.value.trim().toUpperCase())}/members`);
  });
  return h('section', { 'aria-labelledby': 'care-members-title' }, h('h2', { id: 'care-members-title' }, 'Members of any site (Customer Care)'), form);
}

async function membersView({ site, current }) {
  const path = `/v1/sites/${encodeURIComponent(site)}/members`;
  const first = await api(withQuery(path, { limit: 100 }));
  if (!current()) return;
  const id = String(site).toUpperCase();
  setTitle(`Members of ${id} · Site Management`);
  const columns = ['E-mail', 'Role', 'Member since', 'Remove'];
  const row = (m) => tableRow(columns, [m.email, ROLE_WORDS[m.role] || m.role, formatTime(m.since), removeButton(site, m.email)], { 'data-member': m.email });
  let cursor = first.next_cursor;
  const content = [crumbs(['Site Management', '#/manage'], [`Members of ${id}`]), h('h1', {}, `Members of ${id}`)];
  if (!first.members.length) {
    content.push(h('p', { class: 'empty' }, 'This site has no members.'));
  } else {
    const tbl = table(`Members of ${id}`, columns, first.members.map(row), { id: 'members', class: 'data' });
    content.push(tbl);
    if (cursor) {
      content.push(moreButton('Show more members', async () => {
        const page = await api(withQuery(path, { limit: 100, cursor }));
        page.members.forEach((m) => tbl.querySelector('tbody').append(row(m)));
        cursor = page.next_cursor;
        return Boolean(cursor);
      }));
    }
  }
  replace(main, ...content);
}

function removeButton(site, email) {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${email}` }, 'Remove');
  button.addEventListener('click', async () => {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Remove ${email} from ${site}? They lose access to its products.`)) return;
    button.disabled = true;
    try {
      await api(`/v1/sites/${encodeURIComponent(site)}/members/${encodeURIComponent(email)}`, { method: 'DELETE' });
      pendingNotice = `${email} was removed from ${site}.`;
      render('notice');
    } catch (e) {
      button.disabled = false;
      showFailure(e);
    }
  });
  return button;
}

