// An application: its endpoints with their health, deliveries per hour, and its messages
// (filtered by event type, channel and time). The portal shows the same page for its one
// application, without what only the platform may do.

import * as api from '../api.js';
import { deliveryChart, hourLabel, sumBuckets, legend } from '../chart.js';
import {
  h, mount, button, busy, card, table, field, dialog, pageHead, crumbs, when, healthBadge,
  linkButton, list, parseJsonField, fromLocalInput, idChip, toast, copyButton,
} from '../ui.js';
import { applicationDialog, deleteApplication } from './applications.js';

/** Makes a customer portal link for the application and shows it. */
async function portalLinkDialog(app, org) {
  const expires = h('select', { name: 'expiresIn' },
    [[3600, '1 hour'], [86400, '1 day'], [604800, '7 days']].map(([s, label]) => h('option', { value: s }, label)));
  const readOnly = h('input', { type: 'checkbox', name: 'readOnly' });
  const name = h('input', { name: 'orgName', maxlength: 256, value: org, placeholder: 'your company' });
  const accent = h('input', { type: 'color', name: 'accentColor', value: '#5b4bdb' });
  const link = await dialog('Customer portal link', [
    h('p', {}, `A page where the customer of “${app.name}” manages its own endpoints and sees its deliveries — and nothing else.`),
    field('Your name, as the portal shows it', name),
    field('Works for', expires),
    field('Accent colour', accent),
    h('label', { class: 'field check' }, readOnly, h('span', {}, 'Read-only (the customer only looks)')),
  ], 'Create link', async () => (await api.post(`${api.paths.app(app.id)}/portal-link`, {
    expiresIn: Number(expires.value),
    readOnly: readOnly.checked,
    accentColor: accent.value,
    orgName: name.value.trim() || undefined,
  })).data);
  if (!link) return;
  await dialog('Portal link ready', [
    h('p', {}, 'Send this link to your customer. It works until ', h('strong', {}, new Date(link.expiresAt).toLocaleString()), '; revoke it early under API tokens.'),
    h('div', { class: 'shown-once' }, h('code', { id: 'portal-url' }, link.url), copyButton(link.url, 'Copy')),
    h('p', {}, h('a', { href: link.url, target: '_blank', rel: 'noopener', id: 'open-portal' }, 'Open the portal ↗')),
  ], 'Done', () => true, 'primary', { cancel: false });
}

/** Endpoint stats read for the chart at most (one request each). */
const CHART_ENDPOINTS = 50;

/** The form that posts a message to the application; resolves with the message. */
export function messageDialog(app, eventType = '') {
  const type = h('input', { name: 'eventType', required: true, value: eventType, placeholder: 'user.created' });
  const channels = h('input', { name: 'channels', placeholder: 'optional, comma separated' });
  const payload = h('textarea', { name: 'payload', rows: 8, class: 'code' }, '{\n  "hello": "world"\n}');
  return dialog('Send a message', [
    field('Event type', type),
    field('Channels', channels),
    field('Payload (JSON object)', payload),
  ], 'Send', async () => {
    const body = { eventType: type.value.trim(), payload: parseJsonField(payload.value, 'Payload') };
    const names = list(channels.value);
    if (names.length) body.channels = names;
    return (await api.post(api.paths.messages(app), body)).data;
  });
}

function endpointsCard(ctx, app, endpoints) {
  const add = ctx.readOnly ? null : linkButton('Add endpoint', ctx.href.newEndpoint(app.id), 'primary small');
  return card('Endpoints', add, table([
    { title: 'Endpoint', cell: (e) => h('div', {}, h('a', { href: ctx.href.endpoint(app.id, e.id), class: 'strong' }, e.name), h('div', { class: 'muted small' }, e.url)) },
    { title: 'Health', cell: (e) => healthBadge(e) },
    { title: 'Event types', cell: (e) => (e.eventTypes.length ? e.eventTypes.join(', ') : h('span', { class: 'muted' }, 'all')) },
    { title: 'Last success', cell: (e) => when(e.health.lastSuccess) },
    { title: 'Last failure', cell: (e) => when(e.health.lastFailure) },
  ], endpoints, 'No endpoints yet: add the URL webhooks should go to.', (e) => ({ dataset: { endpoint: e.id } })));
}

async function chartCard(app, endpoints) {
  const body = h('div', { class: 'chart-box' });
  const measured = endpoints.slice(0, CHART_ENDPOINTS);
  const stats = await Promise.all(measured.map((e) => api.get(`${api.paths.endpoint(app.id, e.id)}/stats`).then((r) => r.data.hourly)));
  const buckets = sumBuckets(stats);
  if (!buckets.length) {
    mount(body, h('p', { class: 'empty' }, 'No deliveries in the last 24 hours.'));
  } else {
    mount(body, deliveryChart(buckets, hourLabel), legend(h));
  }
  const note = endpoints.length > CHART_ENDPOINTS ? h('small', { class: 'muted' }, `first ${CHART_ENDPOINTS} endpoints`) : null;
  return card('Deliveries per hour (24 h)', note, body);
}

function messagesCard(ctx, app) {
  const eventType = h('input', { name: 'eventType', placeholder: 'event type', 'aria-label': 'Event type' });
  const channel = h('input', { name: 'channel', placeholder: 'channel', 'aria-label': 'Channel' });
  const after = h('input', { type: 'datetime-local', name: 'after', 'aria-label': 'Created after' });
  const before = h('input', { type: 'datetime-local', name: 'before', 'aria-label': 'Created before' });
  const results = h('div', { id: 'messages' });
  const more = h('div', { class: 'more' });
  let rows = [];

  const draw = () => mount(results, table([
    { title: 'Message', cell: (m) => h('a', { href: ctx.href.message(app.id, m.id), class: 'mono' }, m.uid || m.id) },
    { title: 'Event type', cell: (m) => h('code', {}, m.eventType) },
    { title: 'Channels', cell: (m) => m.channels.join(', ') || h('span', { class: 'muted' }, '—') },
    { title: 'Created', cell: (m) => when(m.created) },
  ], rows, 'No messages match.'));

  const load = async (iterator) => {
    const { data, next } = await api.get(api.paths.messages(app.id), {
      eventType: eventType.value.trim(),
      channel: channel.value.trim(),
      after: fromLocalInput(after.value),
      before: fromLocalInput(before.value),
      limit: 25,
      iterator,
    });
    rows = iterator ? rows.concat(data) : data;
    draw();
    mount(more, next ? button('Load more', busy(() => load(next)), 'small') : null);
  };

  const filters = h('form', { class: 'filters', id: 'message-filters' },
    field('Event type', eventType), field('Channel', channel), field('After', after), field('Before', before),
    h('button', { type: 'submit', class: 'btn small' }, 'Filter'));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(() => load())();
  });
  const send = ctx.readOnly || ctx.portal ? null : button('Send message', busy(async () => {
    const sent = await messageDialog(app.id);
    if (sent) {
      toast('Message accepted', 'ok');
      location.hash = ctx.href.message(app.id, sent.id);
    }
  }), 'small', { id: 'send-message' });
  return { node: card('Messages', send, filters, results, more), load };
}

export async function applicationPage(page, ctx, { app: appId }) {
  const [{ data: app }, { items: endpoints }] = await Promise.all([
    api.get(api.paths.app(appId)),
    api.all(api.paths.endpoints(appId)),
  ]);
  const actions = ctx.portal ? [] : [
    button('Portal link', busy(() => portalLinkDialog(app, ctx.org)), '', { id: 'portal-link' }),
    button('Edit', busy(async () => {
      if (await applicationDialog(app)) applicationPage(page, ctx, { app: appId });
    })),
    button('Delete', busy(async () => {
      if (await deleteApplication(app)) location.hash = ctx.href.apps();
    }), 'danger'),
  ];
  const messages = messagesCard(ctx, app);
  const chart = h('div', {}, card('Deliveries per hour (24 h)', null, h('p', { class: 'muted' }, 'Loading…')));
  mount(page,
    ctx.portal ? null : crumbs(['Applications', ctx.href.apps()], app.name),
    pageHead(ctx.portal ? 'Webhook endpoints' : app.name,
      ctx.portal ? 'The URLs your webhooks are delivered to, and how the deliveries went.' : h('span', {}, app.uid ? h('code', {}, app.uid) : null, ' ', idChip(app.id)),
      actions),
    endpointsCard(ctx, app, endpoints),
    chart,
    messages.node);
  await Promise.all([
    messages.load(),
    chartCard(app, endpoints).then((node) => mount(chart, node)),
  ]);
}
