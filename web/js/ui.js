// What every screen shares: the page's regions, the messages, navigation, and small
// building blocks (breadcrumbs, access words, "Show more").

import { h, replace } from './dom.js';
import { api, withQuery } from './api.js';

export const main = document.getElementById('main');
const alertBox = document.getElementById('alert');
export const noticeBox = document.getElementById('notice');

/** State shared between the router and the screens. */
export const state = {
  config: null,
  /** Shown with the next screen (the outcome of an action). */
  pendingNotice: '',
  pendingAlert: '',
  /** The export in progress (cancelled when the screen changes). */
  activeExport: null,
  /** The router's render(moveFocus), set by app.js. */
  render: () => {},
};

/** Why the caller sees something, in words a customer understands. */
export const ACCESS_WORDS = {
  member: 'You are a member of this account site',
  ship_to: 'Shipped to you (you are the ship-to contact on the order)',
  reseller: 'Sold through your reseller account',
};
export const STATUS_WORDS = { active: 'Active', expired: 'Expired', upcoming: 'Not started yet' };
export const ROLE_WORDS = { user: 'User', admin: 'Site administrator' };

export function showAlert(message) {
  replace(alertBox, message ? h('p', {}, message) : '');
}

export function showNotice(message) {
  replace(noticeBox, message ? h('p', {}, message) : '');
}

/** Shows a failed call: a 401 is handled by the session's end, an abort is silent. */
export function showFailure(e) {
  if (e && e.name === 'AbortError') return;
  if (e && e.status === 401) return;
  showAlert(e && e.message ? e.message : 'Something went wrong. Please try again.');
}

export function navigate(hash) {
  if (window.location.hash === hash) state.render(true);
  else window.location.hash = hash;
}

export function setTitle(text) {
  document.title = `${text} · ABEV`;
}

export function crumbs(...items) {
  return h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    h('ol', {}, items.filter(Boolean).map(([label, href]) => h('li', {}, href ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label)))));
}

export function siteHash(site, params) {
  const q = params ? params.toString() : '';
  return `#/products/${encodeURIComponent(site)}${q ? `?${q}` : ''}`;
}

export function accessList(access) {
  return h('ul', { class: 'access' }, (access || []).map((a) => h('li', { 'data-access': a }, ACCESS_WORDS[a] || a)));
}

/** A "Show more" button that loads the next page and appends its rows. */
export function moreButton(label, load) {
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

/**
 * A danger button that DELETEs `path` — after the person accepts `confirm`, when there is one —
 * and re-renders the page with `notice`; a failure is shown and the button works again.
 */
export function deleteButton({ label, ariaLabel, confirm, path, notice }) {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': ariaLabel }, label);
  button.addEventListener('click', async () => {
    // eslint-disable-next-line no-alert
    if (confirm && !window.confirm(confirm)) return;
    button.disabled = true;
    try {
      await api(path, { method: 'DELETE' });
      state.pendingNotice = notice;
      state.render('notice');
    } catch (e) {
      button.disabled = false;
      showFailure(e);
    }
  });
  return button;
}

/**
 * "Show more" under a table whose first page of `path` ended at `cursor`: each click reads the
 * next page (`limit` a page) and appends a `row` for each of its `key` items. Nothing ('') when
 * the first page was the last.
 */
export function moreRows(label, { tbl, path, key, row, cursor, limit = 100 }) {
  if (!cursor) return '';
  let next = cursor;
  return moreButton(label, async () => {
    const page = await api(withQuery(path, { limit, cursor: next }));
    tbl.tBodies[0].append(...page[key].map(row));
    next = page.next_cursor;
    return Boolean(next);
  });
}

export function failureView(e) {
  const titles = { 404: 'Not found', 403: 'Not allowed', 400: 'That did not work' };
  const title = titles[e && e.status] || 'Something went wrong';
  setTitle(title);
  replace(main,
    h('h1', {}, title),
    h('p', { class: 'failure' }, e && e.message ? e.message : 'Something went wrong. Please try again.'),
    h('p', {}, h('a', { href: '#/products' }, 'Back to My Products')));
}

export function unknownView() {
  setTitle('Not found');
  replace(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page.'), h('p', {}, h('a', { href: '#/products' }, 'Go to My Products')));
}
