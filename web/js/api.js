// The one way the page talks to the ABEV API: bearer token, JSON in and out, and every
// failure turned into an ApiError whose message is a sentence a person can read.

export class ApiError extends Error {
  constructor(status, message, problem = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

let settings = {
  apiBase: '',
  getToken: () => null,
  onUnauthorized: () => {},
};

/** apiBase: '' (same origin) or 'https://api.example'; getToken(): the bearer token or null. */
export function configure(options) {
  settings = { ...settings, ...options };
}

/** A sentence from an API `detail` or any other text: capital first letter, final full stop. */
export function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return '';
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

const FALLBACK = {
  400: 'The request was not accepted.',
  401: 'Your session has ended. Please sign in again.',
  403: 'You are not allowed to do this.',
  404: 'Not found.',
  409: 'This was already done, or conflicts with something that was.',
  429: 'Too many requests at once. Please wait a moment and try again.',
  500: 'Something went wrong on our side. Please try again later.',
  503: 'The service is busy right now. Please try again in a moment.',
};

/** What a failed answer means, as one sentence. */
export function messageFor(status, problem) {
  const detail = problem && typeof problem.detail === 'string' ? sentence(problem.detail) : '';
  if (status === 401) return FALLBACK[401];
  if (detail && status < 500) return detail;
  return FALLBACK[status] || (status >= 500 ? FALLBACK[500] : (detail || `The request failed (HTTP ${status}).`));
}

/** Builds `/path?k=v` leaving out empty values. */
export function withQuery(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Calls the API. Resolves to the parsed JSON body (or `{status, body}` with `withStatus`);
 * rejects with an ApiError.
 */
export async function api(path, { method = 'GET', body, signal, withStatus = false } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  const token = settings.getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(settings.apiBase + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The service could not be reached. Check your connection and try again.');
  }
  const type = response.headers.get('Content-Type') || '';
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    if (text && (type.includes('json'))) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
  }
  if (response.ok) return withStatus ? { status: response.status, body: data } : data;
  const err = new ApiError(response.status, messageFor(response.status, data), data);
  if (response.status === 401) settings.onUnauthorized(err);
  throw err;
}

/** Whether a failed call may succeed if made again (throttling, a busy service, no network). */
export function isTransient(e) {
  return e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status === 502 || e.status === 503 || e.status === 504);
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new DOMException('Aborted', 'AbortError')); }, { once: true });
  });
}

/**
 * Every page of a paged list, one after the other: yields each page's body. A transient
 * failure is retried (`retries` times, waiting 0.5 s, 1 s, 2 s, …), so one throttled call
 * does not end a long walk.
 */
export async function* pages(path, params, { signal, retries = 3 } = {}) {
  let cursor = null;
  do {
    let page;
    for (let attempt = 0; ; attempt++) {
      try {
        page = await api(withQuery(path, { ...params, cursor }), { signal });
        break;
      } catch (e) {
        if (attempt >= retries || !isTransient(e)) throw e;
        await pause(500 * 2 ** attempt, signal);
      }
    }
    yield page;
    cursor = page.next_cursor;
  } while (cursor);
}

/**
 * Asks the API for a short-lived download link (`GET …/download`). The route answers a
 * redirect to clients that follow one; a page cannot read a redirect's Location (fetch hides
 * it), so the page asks for JSON (`Accept: application/json` → `{"url", "expires_in_seconds"}`).
 * Resolves to the URL, or null when there is no download in the caller's view (404).
 */
export async function downloadLink(path) {
  const headers = { Accept: 'application/json' };
  const token = settings.getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(settings.apiBase + path, { headers, credentials: 'omit', cache: 'no-store', redirect: 'manual' });
  } catch {
    throw new ApiError(0, 'The service could not be reached. Check your connection and try again.');
  }
  if (response.type === 'opaqueredirect' || response.status === 404) return null;
  const data = await response.json().catch(() => null);
  if (response.ok && data && typeof data.url === 'string' && /^https?:\/\//i.test(data.url)) return data.url;
  const err = new ApiError(response.status, messageFor(response.status, data), data);
  if (response.status === 401) settings.onUnauthorized(err);
  throw err;
}
