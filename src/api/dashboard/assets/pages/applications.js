// Applications: search by name or uid, create, edit, delete.

import * as api from '../api.js';
import { h, mount, button, busy, card, table, field, dialog, confirm, toast, pageHead, when, idChip, plural } from '../ui.js';

/** The create/edit form of an application; resolves with the saved application. */
export function applicationDialog(existing) {
  const name = h('input', { name: 'name', required: true, maxlength: 256, value: existing ? existing.name : '' });
  const uid = h('input', { name: 'uid', maxlength: 256, pattern: '[a-zA-Z0-9._\\-]+', value: existing && existing.uid ? existing.uid : '', placeholder: 'optional, e.g. customer-42' });
  return dialog(existing ? 'Edit application' : 'New application', [
    field('Name', name),
    field('UID', uid, 'Your own identifier (letters, digits, . _ -), usable instead of the id.'),
  ], existing ? 'Save' : 'Create', async () => {
    const body = { name: name.value.trim() };
    if (uid.value.trim()) body.uid = uid.value.trim();
    const { data } = existing
      ? await api.put(api.paths.app(existing.id), body)
      : await api.post(api.paths.apps(), body);
    return data;
  });
}

/** Deletes an application after confirmation; resolves true when deleted. */
export async function deleteApplication(app) {
  const sure = await confirm('Delete application',
    `Delete “${app.name}” with all its endpoints, messages and pending deliveries? This cannot be undone.`);
  if (!sure) return false;
  await api.del(api.paths.app(app.id));
  toast(`Deleted ${app.name}`, 'ok');
  return true;
}

export async function applicationsPage(page, ctx) {
  const search = h('input', { type: 'search', id: 'app-search', placeholder: 'Search by name, uid or id', 'aria-label': 'Search applications' });
  const results = h('div', {});
  const { items, more } = await api.all(api.paths.apps(), {}, 2000);
  let apps = items;

  const draw = async () => {
    const query = search.value.trim().toLowerCase();
    let shown = query
      ? apps.filter((a) => a.name.toLowerCase().includes(query) || (a.uid || '').toLowerCase().includes(query) || a.id === query)
      : apps;
    if (query && !shown.length) {
      // Not among those loaded: it may still exist (an exact id or uid).
      try {
        shown = [(await api.get(api.paths.app(search.value.trim()))).data];
      } catch {
        shown = [];
      }
    }
    mount(results, table([
      { title: 'Name', cell: (a) => h('a', { href: ctx.href.app(a.id), class: 'strong' }, a.name) },
      { title: 'UID', cell: (a) => (a.uid ? h('code', {}, a.uid) : h('span', { class: 'muted' }, '—')) },
      { title: 'ID', cell: (a) => idChip(a.id) },
      { title: 'Created', cell: (a) => when(a.created) },
      { title: '', class: 'right', cell: (a) => h('div', { class: 'row-actions' },
        button('Edit', busy(async () => {
          const saved = await applicationDialog(a);
          if (saved) {
            apps = apps.map((x) => (x.id === saved.id ? saved : x));
            draw();
          }
        }), 'small'),
        button('Delete', busy(async () => {
          if (await deleteApplication(a)) {
            apps = apps.filter((x) => x.id !== a.id);
            draw();
          }
        }), 'small danger')) },
    ], shown, query ? 'No application matches.' : 'No applications yet: create one for each of your customers.'));
  };
  search.addEventListener('input', draw);

  const create = button('New application', busy(async () => {
    const created = await applicationDialog(null);
    if (created) location.hash = ctx.href.app(created.id);
  }), 'primary', { id: 'new-app' });

  mount(page,
    pageHead('Applications', 'Where messages are sent: usually one per customer of your platform.', [create]),
    card(more ? `${apps.length}+ applications` : plural(apps.length, 'application'), search, results));
  await draw();
}
