// Operational webhooks: endpoints of the organisation itself that hear about its deliveries
// (an endpoint disabled, a circuit opened or closed, a message that failed for good, a
// recovery finished): list, create, delete.

import * as api from '../api.js';
import { h, button, busy, card, table, field, dialog, confirm, toast, pageHead, when, healthBadge, plural, mount } from '../ui.js';

const PATH = '/operational-webhooks/endpoints';

/** The operational events, as `eventTypes` names them. */
const EVENTS = [
  ['endpoint.disabled', 'an endpoint was disabled (failing for too long, or by hand)'],
  ['endpoint.disabling', 'an endpoint will be disabled soon if it keeps failing'],
  ['endpoint.circuit_opened', 'an endpoint’s circuit opened'],
  ['endpoint.circuit_closed', 'an endpoint’s circuit closed again'],
  ['message.attempt.exhausted', 'a message failed for good'],
  ['message.attempt.failing', 'a message keeps failing'],
  ['recovery.finished', 'a recovery job finished'],
];

/** The create form; resolves with the new endpoint. */
function operationalDialog() {
  const name = h('input', { name: 'name', required: true, maxlength: 256, placeholder: 'on-call alerts' });
  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://ops.example.com/octohooks' });
  const boxes = EVENTS.map(([event]) => h('input', { type: 'checkbox', name: 'eventTypes', value: event }));
  return dialog('New operational endpoint', [
    field('Name', name),
    field('URL', url),
    h('fieldset', { class: 'choices' }, h('legend', { class: 'label' }, 'Events (none ticked: all of them)'),
      EVENTS.map(([event, meaning], i) => h('label', {}, boxes[i], h('span', {}, h('code', {}, event), ` — ${meaning}`)))),
  ], 'Create', async () => {
    const body = { name: name.value.trim(), url: url.value.trim() };
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length) body.eventTypes = chosen;
    return (await api.post(PATH, body)).data;
  });
}

export async function operationalPage(page) {
  const { items: endpoints } = await api.all(PATH);
  const reload = () => operationalPage(page);
  mount(page,
    pageHead('Operational webhooks', 'Where Octohooks tells you about your deliveries: endpoints disabled, circuits opened, messages that failed for good.', [
      button('New endpoint', busy(async () => {
        if (await operationalDialog()) {
          toast('Operational endpoint created', 'ok');
          reload();
        }
      }), 'primary', { id: 'new-operational-endpoint' }),
    ]),
    card(plural(endpoints.length, 'endpoint'), null, table([
      { title: 'Endpoint', cell: (e) => h('div', {}, h('strong', {}, e.name), h('div', { class: 'muted small' }, e.url)) },
      { title: 'Health', cell: (e) => healthBadge(e) },
      { title: 'Events', cell: (e) => (e.eventTypes.length ? e.eventTypes.join(', ') : h('span', { class: 'muted' }, 'all')) },
      { title: 'Last success', cell: (e) => when(e.health.lastSuccess) },
      { title: 'Created', cell: (e) => when(e.created) },
      { title: '', class: 'right', cell: (e) => button('Delete', busy(async () => {
        if (await confirm('Delete operational endpoint', `Delete “${e.name}”? It stops hearing about your deliveries.`)) {
          await api.del(`${PATH}/${api.seg(e.id)}`);
          toast('Operational endpoint deleted', 'ok');
          reload();
        }
      }), 'small danger') },
    ], endpoints, 'No operational endpoints: add one to hear when an endpoint is disabled or a message fails for good.', (e) => ({ dataset: { endpoint: e.id } }))));
}
