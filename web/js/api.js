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

/** Every item of a paged list, page by page: yields each page's body. */
export async function* pages(path, params, { signal } = {}) {
  let cursor = null;
  do {
    const page = await api(withQuery(path, { ...params, cursor }), { signal });
    yield page;
    cursor = page.next_cursor;
  } while (cursor);
}
