// An endpoint: its health, actions (pause, resume, enable, disable, recover, delete), its
// signing secret (reveal, rotate), its delivery stats, its attempt log and its settings.
// Also the page that creates an endpoint (the same settings form).

import * as api from '../api.js';
import { deliveryChart, hourLabel, dayLabel, legend } from '../chart.js';
import {
  h, mount, button, busy, card, table, field, dialog, confirm, toast, pageHead, crumbs, when,
  ago, healthBadge, attemptBadge, outcome, list, parseJsonField, fromLocalInput, toLocalInput,
  copyButton, idChip,
} from '../ui.js';

/** The body of a PUT that keeps everything of `endpoint` but what `changes` sets. */
function replacement(endpoint, changes = {}) {
  const body = {
    name: endpoint.name,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    channels: endpoint.channels,
    enabled: endpoint.enabled,
    rateLimit: endpoint.rateLimit,
    headers: endpoint.headers,
    filter: endpoint.filter,
    ordering: endpoint.ordering,
    ...changes,
  };
  if (endpoint.uid) body.uid = endpoint.uid;
  return body;
}

/** `Name: value` lines ⇄ a header object. */
function headersText(headers) {
  return Object.entries(headers || {}).map(([name, value]) => `${name}: ${value}`).join('\n');
}
function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(':');
    if (at < 1) throw new Error(`Header line “${line}” is not “Name: value”`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

/** The settings form; `save(body)` stores it. Creating when `endpoint` is null. */
function settingsForm(endpoint, save, { readOnly = false } = {}) {
  const e = endpoint || { name: '', url: '', eventTypes: [], channels: [], enabled: true, rateLimit: null, headers: {}, filter: null, ordering: 'none' };
  const inputs = {
    name: h('input', { name: 'name', required: true, maxlength: 256, value: e.name }),
    url: h('input', { name: 'url', type: 'url', required: true, value: e.url, placeholder: 'https://example.com/webhooks' }),
    uid: h('input', { name: 'uid', value: e.uid || '', placeholder: 'optional' }),
    eventTypes: h('input', { name: 'eventTypes', value: e.eventTypes.join(', '), placeholder: 'all event types' }),
    channels: h('input', { name: 'channels', value: e.channels.join(', '), placeholder: 'any channel' }),
    rateLimit: h('input', { name: 'rateLimit', type: 'number', min: 1, value: e.rateLimit ?? '', placeholder: 'default' }),
    headers: h('textarea', { name: 'headers', rows: 3, class: 'code', placeholder: 'X-Api-Key: 1234' }, headersText(e.headers)),
    filter: h('textarea', { name: 'filter', rows: 3, class: 'code', placeholder: '{"type": "invoice.paid"}' }, e.filter ? JSON.stringify(e.filter, null, 2) : ''),
    ordering: h('select', { name: 'ordering' },
      h('option', { value: 'none', selected: e.ordering !== 'fifo' }, 'none — as fast as possible'),
      h('option', { value: 'fifo', selected: e.ordering === 'fifo' }, 'fifo — in creation order (per ordering key)')),
    enabled: h('input', { name: 'enabled', type: 'checkbox', checked: e.enabled }),
  };
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'save-endpoint' }, endpoint ? 'Save changes' : 'Create endpoint');
  const form = h('form', { class: 'settings', id: 'endpoint-settings' },
    h('div', { class: 'grid-2' },
      field('Name', inputs.name),
      field('URL', inputs.url),
      field('UID', inputs.uid, 'Your own identifier, usable instead of the id.'),
      field('Rate limit (deliveries/s)', inputs.rateLimit, 'Empty: the server default.'),
      field('Event types', inputs.eventTypes, 'Comma separated; empty: every event type.'),
      field('Channels', inputs.channels, 'Comma separated; empty: any channel.'),
      field('Extra headers', inputs.headers, 'One “Name: value” per line, sent with every delivery.'),
      field('Payload filter (JSON)', inputs.filter, 'Only payloads matching it are delivered; empty: all.'),
      field('Ordering', inputs.ordering),
      h('label', { class: 'field check' }, inputs.enabled, h('span', {}, 'Enabled'))),
    error, readOnly ? null : submit);
  if (readOnly) for (const input of Object.values(inputs)) input.disabled = true;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const body = {
        name: inputs.name.value.trim(),
        url: inputs.url.value.trim(),
        eventTypes: list(inputs.eventTypes.value),
        channels: list(inputs.channels.value),
        enabled: inputs.enabled.checked,
        rateLimit: inputs.rateLimit.value ? Number(inputs.rateLimit.value) : null,
        headers: parseHeaders(inputs.headers.value),
        filter: inputs.filter.value.trim() ? parseJsonField(inputs.filter.value, 'The filter') : null,
        ordering: inputs.ordering.value,
      };
      if (inputs.uid.value.trim()) body.uid = inputs.uid.value.trim();
      await save(body);
    } catch (e) {
      error.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** `POST` a filter and a payload to the filter tester. */
function filterTester(path) {
  const filter = h('textarea', { rows: 3, class: 'code', placeholder: '{"amount": {"$gt": 100}}' });
  const payload = h('textarea', { rows: 3, class: 'code', placeholder: '{"amount": 250}' });
  const result = h('span', { class: 'result' });
  return h('details', { class: 'tester' }, h('summary', {}, 'Test a filter'),
    h('div', { class: 'grid-2' }, field('Filter', filter), field('Payload', payload)),
    button('Test', busy(async () => {
      const { data } = await api.post(`${path}/filter/test`, {
        filter: parseJsonField(filter.value, 'The filter'),
        payload: parseJsonField(payload.value, 'The payload'),
      });
      mount(result, data.matches ? h('strong', { class: 'ok' }, 'matches: delivered') : h('strong', { class: 'bad' }, 'no match: not delivered'));
    }), 'small'), result);
}

function healthCard(e) {
  const health = e.health;
  const rows = [
    ['State', healthBadge(e)],
    ['Circuit', h('code', {}, health.circuit)],
    ['Failures in a row', String(health.consecutiveFailures)],
    ['Last success', when(health.lastSuccess)],
    ['Last failure', when(health.lastFailure)],
    ['Failing since', when(health.failingSince)],
    ['Next probe', health.nextProbe ? h('span', {}, when(health.nextProbe), ` (${ago(health.nextProbe)})`) : '—'],
    ['Rate limit', e.rateLimit ? `${e.rateLimit}/s` : 'server default'],
    ['Lowered rate', health.effectiveRateLimit ? `${health.effectiveRateLimit}/s (receiver asked to slow down)` : '—'],
  ];
  return card('Health', null, h('dl', { class: 'facts', id: 'health' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
}

function secretCard(path, e, refresh, readOnly) {
  const shown = h('code', { class: 'secret', id: 'secret' }, 'whsec_••••••••••••••••••••••••');
  let revealed = null;
  const reveal = button('Reveal', busy(async () => {
    revealed = (await api.get(`${path}/secret`)).data.key;
    shown.textContent = revealed;
    reveal.replaceWith(copyButton(() => revealed, 'Copy'));
  }), 'small', { id: 'reveal-secret' });
  const rotate = readOnly ? null : button('Rotate', busy(async () => {
    const grace = h('input', { type: 'number', name: 'grace', min: 0, max: 604800, value: 86400 });
    const done = await dialog('Rotate the signing secret', [
      h('p', {}, 'A new secret signs from now on. The current one keeps signing too (a second signature) during the grace period, so receivers can switch without missing a delivery.'),
      field('Grace period (seconds)', grace, '0 drops the current secret at once; at most 7 days.'),
    ], 'Rotate', async () => (await api.post(`${path}/secret/rotate`, { gracePeriodSeconds: Number(grace.value) })).data);
    if (done) {
      toast('Secret rotated', 'ok');
      refresh();
    }
  }), 'small', { id: 'rotate-secret' });
  const signing = e.secrets.length > 1
    ? h('p', { class: 'muted small' }, `${e.secrets.length} secrets sign each delivery (older ones until their grace period ends).`)
    : h('p', { class: 'muted small' }, 'Receivers verify the webhook-signature header with it (Standard Webhooks).');
  return card('Signing secret', null, h('div', { class: 'secret-row' }, shown, reveal, rotate), signing);
}

function statsCard(path) {
  const body = h('div', { class: 'chart-box', id: 'stats' });
  let mode = 'hourly';
  const draw = async () => {
    const { data } = await api.get(`${path}/stats`);
    const buckets = data[mode];
    mount(body, deliveryChart(buckets, mode === 'hourly' ? hourLabel : dayLabel), legend(h));
  };
  const toggle = h('div', { class: 'segmented' },
    ['hourly', 'daily'].map((m) => button(m === 'hourly' ? '24 hours' : '30 days', (event) => {
      mode = m;
      for (const b of event.currentTarget.parentNode.children) b.classList.toggle('active', b === event.currentTarget);
      busy(draw)();
    }, `small ${m === mode ? 'active' : ''}`)));
  return { node: card('Deliveries', toggle, body), draw };
}

function attemptsCard(ctx, app, path) {
  const status = h('select', { 'aria-label': 'Status' },
    h('option', { value: '' }, 'all statuses'),
    ['success', 'pending', 'failed'].map((s) => h('option', { value: s }, s)));
  const results = h('div', { id: 'attempts' });
  const more = h('div', { class: 'more' });
  let rows = [];
  const load = async (iterator) => {
    const { data, next } = await api.get(`${path}/attempts`, { status: status.value, limit: 25, iterator });
    rows = iterator ? rows.concat(data) : data;
    mount(results, table([
      { title: 'Time', cell: (a) => when(a.timestamp) },
      { title: 'Status', cell: (a) => attemptBadge(a.status) },
      { title: 'Response', cell: outcome },
      { title: 'Duration', cell: (a) => `${a.durationMs} ms` },
      { title: 'Attempt', cell: (a) => `#${a.attempt}` },
      { title: 'Message', cell: (a) => h('a', { href: ctx.href.message(app, a.messageId), class: 'mono' }, a.messageId.slice(0, 8)) },
      { title: 'Next retry', cell: (a) => (a.nextAttempt ? ago(a.nextAttempt) : '—') },
    ], rows, 'No delivery attempts yet.'));
    mount(more, next ? button('Load more', busy(() => load(next)), 'small') : null);
  };
  status.addEventListener('change', () => busy(() => load())());
  const refresh = button('Refresh', busy(() => load()), 'small', { id: 'refresh-attempts' });
  return { node: card('Attempts', h('div', { class: 'actions' }, status, refresh), results, more), load };
}

function actions(ctx, app, path, e, reload) {
  if (ctx.readOnly) return [];
  const set = (label, action, kind, id) => button(label, busy(async () => {
    await action();
    reload();
  }), kind, { id });
  const buttons = [
    e.paused
      ? set('Resume', () => api.post(`${path}/resume`), 'primary', 'resume')
      : set('Pause', () => api.post(`${path}/pause`), '', 'pause'),
    e.enabled
      ? set('Disable', () => api.put(path, replacement(e, { enabled: false })), '', 'disable')
      : set('Enable', () => api.put(path, replacement(e, { enabled: true })), 'primary', 'enable'),
    button('Send example…', busy(async () => {
      const sent = await exampleDialog(path);
      if (sent) {
        toast('Example sent', 'ok');
        location.hash = ctx.href.message(app, sent.id);
      }
    }), '', { id: 'send-example', disabled: !e.enabled }),
    button('Recover…', busy(async () => {
      const since = h('input', { type: 'datetime-local', name: 'since', required: true, value: toLocalInput(Date.now() - 86400000) });
      const job = await dialog('Recover failed messages', [
        h('p', {}, 'Re-sends every message whose last attempt to this endpoint failed for good since this time.'),
        field('Since', since),
      ], 'Recover', async () => (await api.post(`${path}/recover`, { since: fromLocalInput(since.value) })).data);
      if (job) followRecovery(path, job.id);
    }), '', { id: 'recover' }),
  ];
  buttons.push(button('Delete', busy(async () => {
    if (await confirm('Delete endpoint', `Delete “${e.name}”? Deliveries waiting for it are dropped.`)) {
      await api.del(path);
      toast('Endpoint deleted', 'ok');
      location.hash = ctx.href.app(app);
    }
  }), 'danger', { id: 'delete-endpoint' }));
  return buttons;
}

/**
 * Sends the catalogue's example of an event type to this endpoint only; resolves with the
 * message. The catalogue's active types are offered; any name may be typed.
 */
async function exampleDialog(path) {
  const catalogue = await api.all('/event-types', {}, 250).catch(() => ({ items: [] }));
  const names = catalogue.items.filter((t) => !t.archived).map((t) => t.name);
  const type = h('input', { name: 'eventType', required: true, list: 'example-types', value: names[0] || '', placeholder: 'user.created' });
  return dialog('Send an example', [
    h('p', {}, 'Delivers a message of this event type, with the catalogue’s example as its payload ({} when it has none), to this endpoint only.'),
    field('Event type', type),
    h('datalist', { id: 'example-types' }, names.map((name) => h('option', { value: name }))),
  ], 'Send', async () => (await api.post(`${path}/send-example`, { eventType: type.value.trim() })).data);
}

/** Reports a recovery job's progress until it is done. */
async function followRecovery(path, job) {
  toast('Recovery started', 'info');
  for (let i = 0; i < 120; i++) {
    const { data } = await api.get(`${path}/recover/${job}`);
    if (data.status === 'done') {
      toast(`Recovery done: ${data.resent} of ${data.scanned} messages re-sent`, 'ok');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export async function endpointPage(page, ctx, { app, endpoint: endpointId }) {
  const path = api.paths.endpoint(app, endpointId);
  const [{ data: e }, appData] = await Promise.all([
    api.get(path),
    ctx.portal ? Promise.resolve(null) : api.get(api.paths.app(app)).then((r) => r.data),
  ]);
  const reload = () => endpointPage(page, ctx, { app, endpoint: endpointId });
  const stats = statsCard(path);
  const attempts = attemptsCard(ctx, app, path);
  mount(page,
    crumbs(...(ctx.portal ? [['Endpoints', ctx.href.app(app)]] : [['Applications', ctx.href.apps()], [appData.name, ctx.href.app(app)]]), e.name),
    pageHead(h('span', {}, e.name, ' ', healthBadge(e)), h('span', {}, h('code', {}, e.url), ' ', idChip(e.id)), actions(ctx, app, path, e, reload)),
    h('div', { class: 'grid-2' }, healthCard(e), secretCard(path, e, reload, ctx.readOnly)),
    stats.node,
    attempts.node,
    card('Settings', null, settingsForm(e, async (body) => {
      await api.put(path, body);
      toast('Endpoint saved', 'ok');
      reload();
    }, { readOnly: ctx.readOnly }), ctx.readOnly ? null : filterTester(path)));
  await Promise.all([stats.draw(), attempts.load()]);
}

export async function newEndpointPage(page, ctx, { app }) {
  const appData = ctx.portal ? null : (await api.get(api.paths.app(app))).data;
  mount(page,
    crumbs(...(ctx.portal ? [['Endpoints', ctx.href.app(app)]] : [['Applications', ctx.href.apps()], [appData.name, ctx.href.app(app)]]), 'New endpoint'),
    pageHead('New endpoint', 'A URL that receives this application’s webhooks, signed with its own secret.'),
    card('Settings', null, settingsForm(null, async (body) => {
      const { data } = await api.post(api.paths.endpoints(app), body);
      toast('Endpoint created', 'ok');
      location.hash = ctx.href.endpoint(app, data.id);
    })));
}
