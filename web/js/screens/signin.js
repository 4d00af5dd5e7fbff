// The sign-in screen: the identity provider's button (OIDC) or the local host's form.

import { h, replace } from '../dom.js';
import * as auth from '../auth.js';
import { main, state, showAlert, setTitle } from '../ui.js';

export function signInView() {
  const config = state.config;
  setTitle('Sign in');
  if (config.auth.mode === 'oidc') {
    const button = h('button', { type: 'button' }, 'Sign in');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await auth.beginSignIn(config.auth, window.location.hash || '#/products');
      } catch (e) {
        button.disabled = false;
        showAlert(e.message);
      }
    });
    replace(main, h('h1', {}, 'Sign in'),
      h('p', {}, 'Sign in with your company account to see your products and manage your site access.'), button);
    return;
  }
  const email = h('input', { id: 'signin-email', name: 'email', type: 'email', autocomplete: 'email', required: true, spellcheck: 'false' });
  const care = h('input', { id: 'signin-care', name: 'care', type: 'checkbox' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('div', { class: 'field' }, h('label', { for: 'signin-email' }, 'E-mail'), email),
    h('div', { class: 'check' }, care, h('label', { for: 'signin-care' }, 'Customer Care agent')),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    showAlert('');
    try {
      await auth.localSignIn(String(config.api_base || '').replace(/\/+$/, ''), email.value, care.checked);
      state.render(true);
    } catch (err) {
      submit.disabled = false;
      showAlert(err.message);
      email.focus();
    }
  });
  replace(main, h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'hint' }, 'Local development sign-in: type the e-mail of any contact (for example mary@skynet.example). It works only on the local host.'),
    form);
}
