// A site's domain rules (issue 21): verified e-mail at the domain is approved as a user at
// once. Site admins and Care add and remove them (GET/POST/DELETE /v1/sites/{s}/domain-rules).

import { h, table, tableRow } from '../dom.js';
import { api } from '../api.js';
import { dateTime } from '../format.js';
import { state, showFailure, deleteButton } from '../ui.js';

export async function rulesSection(site) {
  const path = `/v1/sites/${encodeURIComponent(site)}/domain-rules`;
  const { rules } = await api(path);
  const columns = ['Domain', 'Approved as', 'Added by', 'Added', 'Remove'];
  const section = h('section', { 'aria-labelledby': 'rules-title' }, h('h2', { id: 'rules-title' }, 'Domain rules'),
    h('p', { class: 'hint' }, 'Requests from verified e-mail addresses at exactly these domains (not their subdomains) are approved at once as users. Public mail providers cannot be added.'));
  if (rules.length) {
    section.append(table(`Domain rules of ${site}`, columns, rules.map((r) => tableRow(columns,
      [`@${r.domain}`, 'User', r.added_by, dateTime(r.added_at), removeButton(path, r.domain)], { 'data-rule': r.domain })),
    { id: 'domain-rules', class: 'data' }));
  } else {
    section.append(h('p', { class: 'empty' }, 'No domain rules: every request waits for an administrator.'));
  }
  const domain = h('input', { id: 'rule-domain', name: 'domain', required: true, maxlength: '253', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'acme.example' });
  const submit = h('button', { type: 'submit' }, 'Add rule');
  const form = h('form', { class: 'request', id: 'rule-form' },
    h('div', { class: 'field' }, h('label', { for: 'rule-domain' }, 'Mail domain'), domain), submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const rule = await api(path, { method: 'POST', body: { domain: domain.value.trim() } });
      state.pendingNotice = `Verified addresses at @${rule.domain} are now approved at once for ${site}.`;
      state.render('notice');
    } catch (err) {
      submit.disabled = false;
      showFailure(err);
    }
  });
  section.append(form);
  return section;
}

function removeButton(path, domain) {
  return deleteButton({
    label: 'Remove',
    ariaLabel: `Remove the rule for @${domain}`,
    path: `${path}/${encodeURIComponent(domain)}`,
    notice: `The rule for @${domain} was removed; requests from there wait for an administrator again.`,
  });
}
