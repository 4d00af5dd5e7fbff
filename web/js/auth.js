// Sign-in. Two modes, chosen by config.json (docs/WEB.md):
// - "local": the local host's development sign-in (POST /local/sign-in), `make dev` only;
// - "oidc": OpenID Connect authorization code flow with PKCE (S256).
// The ID token lives in this module's memory only; the refresh token too, plus an
// encrypted copy in IndexedDB (session-store.js) so a reload or a new tab renews instead
// of signing in again. The PKCE verifier, state and the place to come back to live in
// sessionStorage only while the browser is away at the identity provider.

import { saveRefreshToken, loadRefreshToken, clearRefreshToken } from './session-store.js';

const PENDING_KEY = 'abev.oidc.pending';
/** Renew this long before the ID token expires. */
const RENEW_BEFORE_MS = 60_000;
const LOCK = 'abev.renew';

let session = null; // {token, email, care, expiresAt}
let refreshToken = null;
let renewTimer = null;
let settings = { auth: { mode: 'local' }, onEnded: () => {}, onRenewed: () => {} };

/**
 * The sign-in settings (config.json's `auth`) and what to call when a session ends without
 * the user asking (renewal refused) or is renewed.
 */
export function configureAuth(auth, { onEnded, onRenewed } = {}) {
  settings = { auth: auth || { mode: 'local' }, onEnded: onEnded || (() => {}), onRenewed: onRenewed || (() => {}) };
}

export function currentSession() {
  if (session && session.expiresAt && Date.now() >= session.expiresAt) session = null;
  return session;
}

export function token() {
  const s = currentSession();
  return s ? s.token : null;
}

/** Forgets the session here (memory and the kept refresh token), nothing else. */
export async function forget() {
  session = null;
  refreshToken = null;
  clearTimeout(renewTimer);
  await clearRefreshToken();
}

/**
 * Signs out: the identity provider's session ends too — the refresh token is revoked at
 * its revocation endpoint, and in OIDC mode the browser goes to its logout endpoint.
 * Resolves to the URL to send the browser to (null: stay).
 */
export async function signOut() {
  const auth = settings.auth;
  const revoking = refreshToken;
  await forget();
  if (revoking && auth.revocation_endpoint) {
    try {
      await fetch(auth.revocation_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: revoking, token_type_hint: 'refresh_token', client_id: auth.client_id || '' }).toString(),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      // Revocation is best effort: the token is forgotten here in any case.
    }
  }
  if (auth.mode === 'oidc' && auth.logout_endpoint) {
    const url = new URL(auth.logout_endpoint);
    // Cognito reads client_id + logout_uri; OpenID Connect RP-initiated logout post_logout_redirect_uri.
    url.searchParams.set('client_id', auth.client_id);
    url.searchParams.set('logout_uri', auth.redirect_uri);
    url.searchParams.set('post_logout_redirect_uri', auth.redirect_uri);
    return url.toString();
  }
  return null;
}

/** The claims of a JWT, unverified: only to show who is signed in (the API verifies). */
export function claimsOf(jwt) {
  try {
    const part = String(jwt).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** The groups claim the deployment configures (`groups_claim`), read exactly: an array of names. */
function groupsOf(claims) {
  const name = settings.auth.groups_claim || 'groups';
  const g = claims[name] ?? (name === 'groups' ? claims['cognito:groups'] : undefined) ?? [];
  return Array.isArray(g) ? g.map(String) : [String(g)];
}

/** Starts a session from a bearer token (and keeps its refresh token, if any). */
export function useToken(jwt, { refresh = null, expiresIn = null } = {}) {
  const claims = claimsOf(jwt);
  const careGroup = settings.auth.care_group || 'customer-care';
  session = {
    token: jwt,
    email: String(claims.email || ''),
    care: groupsOf(claims).includes(careGroup),
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : (typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null),
  };
  if (refresh) {
    refreshToken = refresh;
    saveRefreshToken(refresh).catch(() => {});
  }
  scheduleRenewal();
  return session;
}

function scheduleRenewal() {
  clearTimeout(renewTimer);
  if (!session || !session.expiresAt || !refreshToken) return;
  const wait = Math.max(5_000, session.expiresAt - Date.now() - RENEW_BEFORE_MS);
  renewTimer = setTimeout(() => {
    renew().then((ok) => {
      if (ok) settings.onRenewed(session);
      else settings.onEnded();
    });
  }, wait);
}

/** A new ID token from the refresh token; one tab at a time (Web Locks), like the OIDC libraries. */
export async function renew() {
  const refresh = refreshToken || (await loadRefreshToken());
  const endpoint = settings.auth.token_endpoint;
  if (!refresh || !endpoint) return false;
  const call = async () => {
    try {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: settings.auth.client_id || '' }).toString(),
        credentials: 'omit',
        cache: 'no-store',
      });
      const tokens = await response.json().catch(() => null);
      const bearer = tokens && (settings.auth.token === 'access_token' ? tokens.access_token : tokens.id_token);
      if (!response.ok || !bearer) {
        if (response.status === 400 || response.status === 401) await forget();
        return false;
      }
      refreshToken = refresh;
      useToken(bearer, { refresh: tokens.refresh_token || null, expiresIn: tokens.expires_in });
      return true;
    } catch {
      return false;
    }
  };
  return navigator.locks ? navigator.locks.request(LOCK, call) : call();
}

/** On load: the session of the last load or of another tab, renewed from the kept refresh token. */
export async function restore() {
  if (currentSession()) return true;
  return renew();
}

// ---- local mode -------------------------------------------------------------------

export async function localSignIn(apiBase, email, care) {
  const response = await fetch(`${apiBase}/local/sign-in`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ email, care }),
    cache: 'no-store',
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || !body.token) {
    const detail = body && body.detail ? String(body.detail) : `sign-in failed (HTTP ${response.status})`;
    throw new Error(detail.charAt(0).toUpperCase() + detail.slice(1).replace(/([^.])$/, '$1.'));
  }
  return useToken(body.token, { refresh: body.refresh_token || null, expiresIn: body.expires_in });
}

// ---- OIDC authorization code + PKCE ---------------------------------------------------

/** base64url without padding (RFC 4648 §5), as PKCE and JWTs use it. */
export function base64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A random string of `n` bytes' entropy, base64url (43 characters for 32 bytes). */
export function randomString(n = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

/** The S256 code challenge of a verifier (RFC 7636 §4.2). */
export async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(digest);
}

const REQUIRED = ['authorize_endpoint', 'token_endpoint', 'client_id', 'redirect_uri'];

export function checkOidcConfig(auth) {
  const missing = REQUIRED.filter((k) => !auth || typeof auth[k] !== 'string' || !auth[k]);
  if (missing.length) throw new Error(`The sign-in settings are incomplete (missing ${missing.join(', ')}).`);
}

/** The authorization request URL (RFC 6749 §4.1.1 with RFC 7636 parameters). */
export function authorizeUrl(auth, { state, challenge, nonce }) {
  checkOidcConfig(auth);
  const url = new URL(auth.authorize_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', auth.client_id);
  url.searchParams.set('redirect_uri', auth.redirect_uri);
  url.searchParams.set('scope', auth.scope || 'openid email');
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

/**
 * Prepares a sign-in: a fresh verifier, state and nonce kept in sessionStorage with the
 * hash route to come back to. Resolves to the URL to send the browser to.
 */
export async function prepareSignIn(auth, returnTo, storage = sessionStorage) {
  const verifier = randomString(32);
  const state = randomString(16);
  const nonce = randomString(16);
  const challenge = await pkceChallenge(verifier);
  storage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, nonce, returnTo: returnTo || '#/' }));
  return authorizeUrl(auth, { state, challenge, nonce });
}

export async function beginSignIn(auth, returnTo) {
  const url = await prepareSignIn(auth, returnTo);
  window.location.assign(url);
}

/**
 * Finishes a sign-in when `href` is the redirect back from the identity provider
 * (`?code=…&state=…` or `?error=…`). Resolves to null when it is not one; otherwise
 * exchanges the code (with the verifier) for tokens and resolves to {session, returnTo}.
 * Throws an Error with a readable message when the provider refused or the state does
 * not match.
 */
export async function completeSignIn(auth, href, storage = sessionStorage) {
  const url = new URL(href);
  const code = url.searchParams.get('code');
  const error = url.searchParams.get('error');
  if (!code && !error) return null;
  const raw = storage.getItem(PENDING_KEY);
  storage.removeItem(PENDING_KEY);
  let pending = null;
  try { pending = raw ? JSON.parse(raw) : null; } catch { pending = null; }
  // Nothing in the answer is believed, or shown, before its state matches this sign-in.
  if (!pending || !pending.state || pending.state !== url.searchParams.get('state')) {
    throw new Error('This sign-in answer does not belong to a sign-in started here. Please sign in again.');
  }
  if (error) {
    const why = (url.searchParams.get('error_description') || error).replace(/[^\p{L}\p{N} .,'()-]/gu, '').slice(0, 200);
    throw new Error(`Sign-in was not completed: ${why}.`);
  }
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: auth.redirect_uri,
    client_id: auth.client_id,
    code_verifier: pending.verifier,
  });
  let response;
  try {
    response = await fetch(auth.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new Error('The sign-in service could not be reached. Please try again.');
  }
  const tokens = await response.json().catch(() => null);
  if (!response.ok || !tokens) {
    const why = tokens && (tokens.error_description || tokens.error);
    throw new Error(`Sign-in failed${why ? `: ${why}` : ''}. Please try again.`);
  }
  // The API needs the e-mail claim, which the ID token carries (docs/WEB.md).
  const bearer = auth.token === 'access_token' ? tokens.access_token : tokens.id_token;
  if (!bearer) throw new Error('The sign-in service sent no token. Please try again.');
  // The nonce is required: an ID token without this sign-in's nonce may be a replayed one.
  if (!tokens.id_token || claimsOf(tokens.id_token).nonce !== pending.nonce) {
    throw new Error('The sign-in answer failed its replay check. Please sign in again.');
  }
  const s = useToken(bearer, { refresh: tokens.refresh_token || null, expiresIn: tokens.expires_in });
  return { session: s, returnTo: pending.returnTo || '#/' };
}
