// A message: its payload, and the timeline of its delivery attempts per endpoint, each with
// a resend button. The page refreshes by itself while deliveries are still under way.

import * as api from '../api.js';
import {
  h, mount, button, busy, card, pageHead, crumbs, when, time, attemptBadge, outcome, jsonView,
  toast, idChip, badge,
} from '../ui.js';

/** How often, and how long at most, the page polls while deliveries are under way. */
const POLL_MS = 1500;
const POLL_FOR_MS = 120000;

function timeline(attempts) {
  return h('ol', { class: 'timeline' }, attempts.map((a) => h('li', { class: `step step-${a.status}` },
    h('div', { class: 'step-head' },
      attemptBadge(a.status), ' ', h('strong', {}, `Attempt ${a.attempt}`), ' ', outcome(a),
      h('span', { class: 'muted' }, ` · ${a.durationMs} ms · `), when(a.timestamp),
      a.nextAttempt ? h('span', { class: 'muted' }, ` · next try due ${time(a.nextAttempt)}`) : null),
    a.responseBody ? h('details', {}, h('summary', {}, 'Response body'), h('pre', { class: 'response' }, a.responseBody)) : null)));
}

function endpointSection(ctx, app, message, endpoint, attempts, redraw) {
  const resend = ctx.readOnly ? null : button('Resend', busy(async () => {
    await api.post(`${api.paths.message(app, message.id)}/endpoints/${api.seg(endpoint.id)}/resend`);
    toast(`Resending to ${endpoint.name}`, 'ok');
    redraw({ expectOneMore: true });
  }), 'small', { dataset: { resend: endpoint.id } });
  const last = attempts[attempts.length - 1];
  return h('section', { class: 'delivery', dataset: { endpoint: endpoint.id } },
    h('header', {},
      h('a', { href: ctx.href.endpoint(app, endpoint.id), class: 'strong' }, endpoint.name),
      h('span', { class: 'muted small' }, ` ${endpoint.url} `),
      last ? attemptBadge(last.status) : badge('muted', 'no attempt'),
      resend),
    attempts.length ? timeline(attempts) : h('p', { class: 'empty' }, 'No attempt to this endpoint (yet, or it does not subscribe to this event type).'));
}

export async function messagePage(page, ctx, { app, message: messageId }) {
  const [{ data: message }, { items: endpoints }, appData] = await Promise.all([
    api.get(api.paths.message(app, messageId)),
    api.all(api.paths.endpoints(app)),
    ctx.portal ? Promise.resolve(null) : api.get(api.paths.app(app)).then((r) => r.data),
  ]);
  const deliveries = h('div', { id: 'deliveries' });
  let started = Date.now();
  let timer = null;
  let seen = 0;
  let expected = 0;

  const draw = async ({ expectOneMore = false } = {}) => {
    if (expectOneMore) {
      expected = seen + 1;
      started = Date.now();
    }
    const { items: attempts } = await api.all(`${api.paths.message(app, message.id)}/attempts`);
    seen = attempts.length;
    const byEndpoint = new Map(endpoints.map((e) => [e.id, []]));
    for (const a of attempts) {
      if (!byEndpoint.has(a.endpointId)) byEndpoint.set(a.endpointId, []);
      byEndpoint.get(a.endpointId).push(a);
    }
    const known = new Map(endpoints.map((e) => [e.id, e]));
    mount(deliveries, [...byEndpoint.entries()].map(([id, list]) => endpointSection(ctx, app, message,
      known.get(id) || { id, name: `deleted endpoint ${id.slice(0, 8)}`, url: '' }, list, draw)));
    // Keep polling while something is under way: no attempt yet, a retry scheduled, or a
    // resend whose attempt has not shown up.
    const underway = !attempts.length || seen < expected || attempts.some((a) => a.status === 'pending');
    clearTimeout(timer);
    if (underway && Date.now() - started < POLL_FOR_MS && page.isConnected) {
      timer = setTimeout(() => draw().catch(() => {}), POLL_MS);
    }
  };

  const facts = [
    ['ID', idChip(message.id)],
    ['UID', message.uid ? h('code', {}, message.uid) : '—'],
    ['Event type', h('code', {}, message.eventType)],
    ['Channels', message.channels.join(', ') || '—'],
    ['Ordering key', message.orderingKey ? h('code', {}, message.orderingKey) : '—'],
    ['Created', when(message.created)],
  ];
  mount(page,
    crumbs(...(ctx.portal ? [['Endpoints', ctx.href.app(app)]] : [['Applications', ctx.href.apps()], [appData.name, ctx.href.app(app)]]), message.uid || message.id),
    pageHead(h('span', {}, 'Message ', h('code', {}, message.eventType)), null,
      [button('Refresh', busy(() => draw()), '', { id: 'refresh-message' })]),
    h('div', { class: 'grid-2' },
      card('Details', null, h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      card('Payload', null, jsonView(message.payload))),
    card('Deliveries', null, deliveries));
  await draw();
}
