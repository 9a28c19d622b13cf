// The event-type catalogue: the organisation's event types with their description, JSON
// Schema and example payload; create, archive (kept for old messages) or restore, delete.

import * as api from '../api.js';
import {
  h, button, busy, card, table, field, dialog, confirm, toast, pageHead, when, badge, plural,
  parseJsonField, jsonView, mount,
} from '../ui.js';

const PATH = '/event-types';

/** The create form; resolves with the stored event type. */
function eventTypeDialog() {
  const name = h('input', { name: 'name', required: true, maxlength: 256, placeholder: 'invoice.paid' });
  const description = h('input', { name: 'description', maxlength: 1024, placeholder: 'optional' });
  const schema = h('textarea', { name: 'schema', rows: 6, class: 'code', placeholder: '{"type": "object", "required": ["id"]}' });
  const example = h('textarea', { name: 'example', rows: 4, class: 'code', placeholder: '{"id": 42}' });
  return dialog('New event type', [
    field('Name', name, 'Dotted, as messages carry it in eventType.'),
    field('Description', description),
    field('JSON Schema of the payloads', schema, 'Draft 2020-12; optional. Messages sent with "validate": true are checked against it.'),
    field('Example payload', example, 'Optional; must match the schema. “Send example” on an endpoint sends it.'),
  ], 'Create', async () => {
    const body = { name: name.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    if (schema.value.trim()) body.schema = parseJsonField(schema.value, 'The schema');
    if (example.value.trim()) body.example = parseJsonField(example.value, 'The example');
    return (await api.post(PATH, body)).data;
  });
}

/** The PUT body that keeps everything of `type` but its archived flag. */
function archived(type, value) {
  const body = { archived: value };
  if (type.description) body.description = type.description;
  if (type.schema !== null) body.schema = type.schema;
  if (type.example !== null) body.example = type.example;
  return body;
}

export async function eventTypesPage(page) {
  const { items: types, more } = await api.all(PATH);
  const reload = () => eventTypesPage(page);
  const details = (t) => (t.schema || t.example
    ? h('details', { class: 'catalogue-entry' }, h('summary', {}, [t.schema ? 'schema' : null, t.example ? 'example' : null].filter(Boolean).join(' · ')),
      t.schema ? [h('div', { class: 'label' }, 'Schema'), jsonView(t.schema)] : null,
      t.example ? [h('div', { class: 'label' }, 'Example'), jsonView(t.example)] : null)
    : h('span', { class: 'muted' }, '—'));
  mount(page,
    pageHead('Event types', 'The catalogue of the events you send: what each means, the shape of its payload, an example.', [
      button('New event type', busy(async () => {
        if (await eventTypeDialog()) {
          toast('Event type created', 'ok');
          reload();
        }
      }), 'primary', { id: 'new-event-type' }),
    ]),
    card(more ? `${types.length}+ event types` : plural(types.length, 'event type'), null, table([
      { title: 'Name', cell: (t) => h('code', { class: 'strong' }, t.name) },
      { title: 'Description', cell: (t) => t.description || h('span', { class: 'muted' }, '—') },
      { title: 'State', cell: (t) => (t.archived ? badge('muted', 'archived', 'Kept for old messages; endpoints naming it get a warning.') : badge('ok', 'active')) },
      { title: 'Schema and example', cell: details },
      { title: 'Updated', cell: (t) => when(t.updated) },
      { title: '', class: 'right', cell: (t) => h('div', { class: 'row-actions' },
        button(t.archived ? 'Restore' : 'Archive', busy(async () => {
          await api.put(`${PATH}/${api.seg(t.name)}`, archived(t, !t.archived));
          toast(t.archived ? 'Event type restored' : 'Event type archived', 'ok');
          reload();
        }), 'small'),
        button('Delete', busy(async () => {
          if (await confirm('Delete event type', `Delete “${t.name}” from the catalogue? Messages of this type can still be sent.`)) {
            await api.del(`${PATH}/${api.seg(t.name)}`);
            toast('Event type deleted', 'ok');
            reload();
          }
        }), 'small danger')) },
    ], types, 'No event types yet: describe the events you send, with a schema and an example.', (t) => ({ dataset: { eventType: t.name } }))));
}
