// Sign-in: exchanges a token for the session cookie (the token itself is not kept).

import * as api from '../api.js';
import { h, mount } from '../ui.js';

export function signInPage(root, signedIn) {
  const token = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', required: true, placeholder: 'oh_…', spellcheck: 'false' });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'signin' }, 'Sign in');
  const form = h('form', { class: 'signin-box' },
    h('div', { class: 'brand big' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'Octohooks'),
    h('h1', {}, 'Sign in'),
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'API token'), token,
      h('small', {}, 'An organisation token: ', h('code', {}, 'octohooks token create --org NAME'),
        ', or the bootstrap token ', h('code', {}, './scripts/serve.sh'), ' prints.')),
    error, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    try {
      const { data } = await api.post('/auth/session', { token: token.value.trim() });
      token.value = '';
      signedIn(data);
    } catch (e) {
      error.textContent = e.status === 401 ? 'This token is not valid.' : e.message;
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, h('div', { class: 'signin' }, form));
  token.focus();
}
