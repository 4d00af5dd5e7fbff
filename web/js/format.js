// Numbers and dates for people, through Intl in the browser's locale; relative hints
// ("ends in 12 days") in the page's language. API dates are calendar days (YYYY-MM-DD),
// formatted as such (UTC), so no time zone moves a day.

const DAY = 86_400_000;
/** An active entitlement ending within this many days is marked "ending soon". */
export const EXPIRING_DAYS = 30;

const numberFormat = new Intl.NumberFormat(undefined);
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** 100000 → "100,000" (en-US), "100.000" (de-DE), … */
export function number(n) {
  return numberFormat.format(Number(n));
}

function dayValue(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso || ''));
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

/** "2027-01-01" → "Jan 1, 2027" (en-US), "01.01.2027" (de-DE); anything else as it is. */
export function date(iso) {
  const v = dayValue(iso);
  return v === null ? String(iso ?? '') : dateFormat.format(v);
}

/** An RFC 3339 instant in the browser's locale and time zone. */
export function dateTime(iso) {
  if (!iso) return '';
  const v = Date.parse(String(iso));
  return Number.isNaN(v) ? String(iso) : timeFormat.format(v);
}

/** Whole days from today (UTC) to `iso`: negative in the past, null when not a date. */
export function daysFrom(iso, now = Date.now()) {
  const v = dayValue(iso);
  if (v === null) return null;
  const today = Math.floor(now / DAY) * DAY;
  return Math.round((v - today) / DAY);
}

const relativeFormat = new Intl.RelativeTimeFormat(document.documentElement.lang || 'en', { numeric: 'auto' });

/** "Ends in 12 days", "Ends tomorrow", "Ended 3 days ago", … ('' for no date). */
export function endsHint(iso, now = Date.now()) {
  const days = daysFrom(iso, now);
  if (days === null) return '';
  return `${days < 0 ? 'Ended' : 'Ends'} ${relativeFormat.format(days, 'day')}`;
}

/** expired, expiring (active and ending within EXPIRING_DAYS) or '' — how a row is marked. */
export function urgency(entitlement, now = Date.now()) {
  if (entitlement.status === 'expired') return 'expired';
  const days = daysFrom(entitlement.ends_on, now);
  if (entitlement.status === 'active' && days !== null && days >= 0 && days <= EXPIRING_DAYS) return 'expiring';
  return '';
}
