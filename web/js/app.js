// The ABEV customer-portal tab: My Products (the caller's view, entitlements, licence keys,
// CSV export) and Site Management (memberships, access requests, approvals, members).
// Plain ES modules, no build step; one module per screen under screens/; hash routes so
// every screen has a URL:
//   #/products                      the account sites of my view       screens/products.js
//   #/products/SITE?q=&status=&ends_before=   a site's entitlements     screens/site.js
//   #/entitlements/SERIAL           one entitlement with its keys      screens/entitlement.js
//   #/manage                        my sites, requests and approvals   screens/manage.js
//   #/manage/SITE/members           a site's members                   screens/members.js
//   #/renewals?within_days=N        what ends soon, with counts        screens/renewals.js
//   #/settings                      expiry notices on/off              screens/settings.js
// This module starts the page, keeps the session and routes.

import { h, replace } from './dom.js';
import { configure } from './api.js';
import * as auth from './auth.js';
import { main, noticeBox, state, showAlert, showNotice, failureView, unknownView } from './ui.js';
import { signInView } from './screens/signin.js';
import { productsView } from './screens/products.js';
import { siteView } from './screens/site.js';
import { entitlementView } from './screens/entitlement.js';
import { manageView } from './screens/manage.js';
import { membersView } from './screens/members.js';
import { renewalsView } from './screens/renewals.js';
import { settingsView } from './screens/settings.js';

export { ACCESS_WORDS } from './ui.js';

let renderSeq = 0;

boot();

async function boot() {
  document.getElementById('skip').addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.config = await response.json();
    if (!state.config || !state.config.auth || !['local', 'oidc'].includes(state.config.auth.mode)) throw new Error('unknown auth mode');
  } catch {
    replace(main, h('h1', { tabindex: '-1' }, 'The page could not start'),
      h('p', {}, 'Its settings (config.json) could not be loaded. Please try again later.'));
    return;
  }
  const config = state.config;
  configure({ apiBase: String(config.api_base || '').replace(/\/+$/, ''), getToken: auth.token, onUnauthorized: sessionEnded });
  auth.configureAuth(config.auth, {
    // A renewal refused (revoked, expired): sign in again, coming back here.
    onEnded: () => sessionEnded(),
    onRenewed: (session) => updateHeader(session, route(parseHash(window.location.hash).segments).tab),
  });
  let signedIn = false;
  if (config.auth.mode === 'oidc') {
    try {
      const done = await auth.completeSignIn(config.auth, window.location.href);
      if (done) {
        history.replaceState(null, '', window.location.pathname + done.returnTo);
        signedIn = true;
      }
    } catch (e) {
      history.replaceState(null, '', window.location.pathname + window.location.hash);
      state.pendingAlert = e.message;
    }
  }
  // A reload or a new tab: the kept session is renewed instead of signing in again.
  if (!signedIn) await auth.restore();
  window.addEventListener('hashchange', () => render(true));
  state.render = render;
  render(false);
}

async function sessionEnded() {
  await auth.forget();
  state.pendingAlert = 'Your session has ended. Please sign in again; you will come back to this page.';
  render(true);
}

async function signOut() {
  const goTo = await auth.signOut();
  if (goTo) {
    window.location.assign(goTo);
    return;
  }
  state.pendingNotice = 'You are signed out.';
  render(true);
}

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
  if (first === 'renewals' && segments.length === 1) return { tab: 'renewals', view: renewalsView };
  if (first === 'settings' && segments.length === 1) return { tab: 'settings', view: settingsView };
  return { tab: null, view: unknownView };
}

/** Shows the screen of the current hash route. moveFocus: false, true (the heading) or 'notice'. */
async function render(moveFocus) {
  const seq = ++renderSeq;
  const current = () => seq === renderSeq;
  if (state.activeExport) state.activeExport.abort();
  // A notice (the outcome of an action) is shown with the screen it leads to, not before.
  const notice = state.pendingNotice;
  showAlert(state.pendingAlert);
  showNotice('');
  state.pendingAlert = '';
  state.pendingNotice = '';
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

function updateHeader(session, tab) {
  const nav = document.getElementById('nav');
  nav.hidden = !session;
  for (const [id, name] of [['nav-products', 'products'], ['nav-manage', 'manage'], ['nav-renewals', 'renewals'], ['nav-settings', 'settings']]) {
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
    h('button', { type: 'button', class: 'link-button', onclick: signOut }, 'Sign out'));
}
