// API tokens: create (shown once, with a copy button), list, revoke. "Get your token from
// the dashboard" happens here.

import * as api from '../api.js';
import { h, mount, button, busy, card, table, field, dialog, confirm, toast, pageHead, when, copyButton, badge, plural } from '../ui.js';

const DAY = 86400000;

/** Shows a token that will not be shown again. */
export function showOnce(title, secret, note) {
  return dialog(title, [
    h('p', {}, note),
    h('div', { class: 'shown-once' }, h('code', { id: 'new-token' }, secret), copyButton(secret, 'Copy')),
  ], 'Done', () => true, 'primary', { cancel: false });
}

async function createToken(apps) {
  const name = h('input', { name: 'name', required: true, maxlength: 256, placeholder: 'e.g. billing service' });
  const expires = h('select', { name: 'expires' },
    h('option', { value: '' }, 'never'),
    [[1, '1 day'], [30, '30 days'], [90, '90 days'], [365, '1 year']].map(([days, label]) => h('option', { value: days }, label)));
  const scope = h('select', { name: 'scope' },
    h('option', { value: '' }, 'the whole organisation'),
    apps.map((a) => h('option', { value: a.id }, `application: ${a.name}`)));
  const readOnly = h('input', { type: 'checkbox', name: 'readOnly' });
  const created = await dialog('New API token', [
    field('Name', name),
    field('Expires', expires),
    field('Reaches', scope, 'A token scoped to one application sees only its endpoints, messages and attempts.'),
    h('label', { class: 'field check' }, readOnly, h('span', {}, 'Read-only (application tokens)')),
  ], 'Create token', async () => {
    const body = { name: name.value.trim() };
    if (expires.value) body.expiresAt = Date.now() + Number(expires.value) * DAY;
    if (scope.value) body.scope = { application: scope.value, readOnly: readOnly.checked };
    return (await api.post('/tokens', body)).data;
  });
  if (created) {
    await showOnce('Your new token', created.token,
      'Copy it now: it is shown this once (only its hash is stored). Use it as “Authorization: Bearer <token>”.');
  }
  return created;
}

export async function tokensPage(page) {
  const [{ items: tokens }, { items: apps }] = await Promise.all([api.all('/tokens'), api.all(api.paths.apps())]);
  const appName = new Map(apps.map((a) => [a.id, a.name]));
  const reach = (t) => (t.scope
    ? h('span', {}, 'application ', h('strong', {}, appName.get(t.scope.application) || t.scope.application.slice(0, 8)), t.scope.readOnly ? [' ', badge('muted', 'read-only')] : null)
    : badge('info', 'organisation'));
  const expiry = (t) => {
    if (!t.expiresAt) return h('span', { class: 'muted' }, 'never');
    return t.expiresAt < Date.now() ? badge('bad', 'expired') : when(t.expiresAt);
  };
  mount(page,
    pageHead('API tokens', 'Tokens authenticate API calls: Authorization: Bearer <token>. Only a hash of each is stored.', [
      button('New token', busy(async () => {
        if (await createToken(apps)) tokensPage(page);
      }), 'primary', { id: 'new-token-button' }),
    ]),
    card(plural(tokens.length, 'token'), null, table([
      { title: 'Name', cell: (t) => h('strong', {}, t.name) },
      { title: 'Reaches', cell: reach },
      { title: 'Created', cell: (t) => when(t.created) },
      { title: 'Last used', cell: (t) => (t.lastUsed ? when(t.lastUsed) : h('span', { class: 'muted' }, 'never')) },
      { title: 'Expires', cell: expiry },
      { title: '', class: 'right', cell: (t) => button('Revoke', busy(async () => {
        if (await confirm('Revoke token', `Revoke “${t.name}”? Every API node refuses it within a second.`, 'Revoke')) {
          await api.del(`/tokens/${api.seg(t.id)}`);
          toast('Token revoked', 'ok');
          tokensPage(page);
        }
      }), 'small danger') },
    ], tokens, 'No tokens yet (the bootstrap token and command-line tokens made before are not listed).', (t) => ({ dataset: { token: t.id } }))));
}
