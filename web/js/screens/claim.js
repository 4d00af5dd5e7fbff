// Claim by proof of purchase (issue 21): serial + order number make the caller a user of the
// order's account site at once (POST /v1/claims). One answer for every wrong pair.

import { h } from '../dom.js';
import { api } from '../api.js';
import { state, showFailure } from '../ui.js';

export function claimSection() {
  const serial = h('input', { id: 'claim-serial', name: 'serial', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false' });
  const order = h('input', { id: 'claim-order', name: 'order_id', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'claim-hint' });
  const submit = h('button', { type: 'submit' }, 'Claim');
  const form = h('form', { class: 'request', id: 'claim-form' },
    h('div', { class: 'field' }, h('label', { for: 'claim-serial' }, 'Serial number'), serial),
    h('div', { class: 'field' }, h('label', { for: 'claim-order' }, 'Order number'), order,
      h('p', { class: 'hint', id: 'claim-hint' }, 'Both are on your order confirmation. The site\'s administrators are told and may revoke the claim for a few days.')),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const { status, body: claim } = await api('/v1/claims',
        { method: 'POST', body: { serial: serial.value.trim(), order_id: order.value.trim() }, withStatus: true });
      state.pendingNotice = status === 201
        ? `You are now a member of ${claim.site_name} (${claim.support_id}). Its administrators may revoke this until ${claim.revocable_until}.`
        : `You already claimed ${claim.site_name} (${claim.support_id}) with this serial.`;
      state.render('notice');
    } catch (err) {
      submit.disabled = false;
      showFailure(err);
    }
  });
  return h('section', { 'aria-labelledby': 'claim-title' }, h('h2', { id: 'claim-title' }, 'Claim a site with a serial and order number'), form);
}
