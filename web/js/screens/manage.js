// Site Management: my sites and roles, Request Additional Site Access, my requests, the
// approvals waiting (site admins and Care), and Care's members-of-any-site form.

import { h, replace, table, tableRow } from '../dom.js';
import { api, withQuery, pages } from '../api.js';
import * as auth from '../auth.js';
import { dateTime } from '../format.js';
import { main, state, showFailure, navigate, setTitle, moreButton, ROLE_WORDS } from '../ui.js';
import { claimSection } from './claim.js';

const REQUEST_STATE_WORDS = {
  pending_admin: 'Waiting for a site administrator',
  escalated: 'Waiting for Customer Care',
  approved: 'Approved',
  rejected: 'Rejected',
  expired: 'Expired: nobody decided it within 90 days',
};
const KIND_WORDS = { join: 'Join the site', role_change: 'Change of role' };

export { manageView };

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
          sites.sites.map((s) => [s.name || s.support_id, s.support_id, ROLE_WORDS[s.role] || s.role, dateTime(s.since),
            s.role === 'admin' || session.care ? h('a', { href: `#/manage/${encodeURIComponent(s.support_id)}/members` }, `Members of ${s.support_id}`) : '—']),
          { id: 'my-sites', class: 'data' })
        : h('p', { class: 'empty' }, 'You are not a member of any account site yet.')),
    requestForm(),
    claimSection(),
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
    ROLE_WORDS[r.requested_role] || r.requested_role, stateBadge(r.status), dateTime(r.created_at), r.decided_by || '—', r.reason || '—'],
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
      // A requester who cannot see the site yet is told its Support ID only (issue 18).
      const name = request.site_name && request.site_name !== request.support_id ? ` (${request.site_name})` : '';
      const site = `${request.support_id}${name}`;
      // 201: a new request; 200: the open one the caller already had (spec §5).
      state.pendingNotice = status === 201
        ? `Your request for ${site} is sent. ${where}`
        : `You already have an open request for ${site}; it was not sent again. ${where}`;
      state.render('notice');
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
    ROLE_WORDS[r.requested_role] || r.requested_role, stateBadge(r.status), dateTime(r.created_at), decisionForms(r, care),
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
      state.pendingNotice = `Approved: ${decided.requester_email} is now ${granted === 'admin' ? 'a site administrator' : 'a user'} of ${decided.support_id}.`;
      state.render('notice');
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
      state.pendingNotice = `Rejected the request of ${decided.requester_email} for ${decided.support_id}.`;
      state.render('notice');
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

