// Sign-in. Two modes, chosen by config.json (docs/WEB.md):
// - "local": the local host's development sign-in (POST /local/sign-in), `make dev` only;
// - "oidc": OpenID Connect authorization code flow with PKCE (S256). The tokens live in
//   this module's memory only; the PKCE verifier, state and the place to come back to
//   live in sessionStorage only while the browser is away at the identity provider.

const PENDING_KEY = 'abev.oidc.pending';

let session = null; // {token, email, care, expiresAt}

export function currentSession() {
  if (session && session.expiresAt && Date.now() >= session.expiresAt) session = null;
  return session;
}

export function token() {
  const s = currentSession();
  return s ? s.token : null;
}

export function signOut() {
  session = null;
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

function groupsOf(claims) {
  const g = claims.groups ?? claims['cognito:groups'] ?? [];
  if (Array.isArray(g)) return g;
  // API Gateway style "[a b]" or a plain string.
  return String(g).replace(/^\[|\]$/g, '').split(/[\s,]+/).filter(Boolean);
}

/** Starts a session from a bearer token. */
export function useToken(jwt) {
  const claims = claimsOf(jwt);
  session = {
    token: jwt,
    email: String(claims.email || ''),
    care: groupsOf(claims).includes('customer-care'),
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null,
  };
  return session;
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
  return useToken(body.token);
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
  const pending = raw ? JSON.parse(raw) : null;
  if (error) {
    const why = url.searchParams.get('error_description') || error;
    throw new Error(`Sign-in was not completed: ${why}.`);
  }
  if (!pending || pending.state !== url.searchParams.get('state')) {
    throw new Error('This sign-in answer does not belong to a sign-in started here. Please sign in again.');
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
  if (tokens.id_token) {
    const claims = claimsOf(tokens.id_token);
    if (claims.nonce !== undefined && claims.nonce !== pending.nonce) {
      throw new Error('The sign-in answer failed its replay check. Please sign in again.');
    }
  }
  const s = useToken(bearer);
  if (!s.expiresAt && typeof tokens.expires_in === 'number') s.expiresAt = Date.now() + tokens.expires_in * 1000;
  return { session: s, returnTo: pending.returnTo || '#/' };
}
