// The TypeScript client against a live server (OCTOHOOKS_URL, OCTOHOOKS_TOKEN; deliveries go
// to OCTOHOOKS_RECEIVER, a receiver answering 2xx). Run: npm test (builds first).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiError, OPERATIONS, Octohooks } from '../dist/index.js';

const URL = process.env.OCTOHOOKS_URL ?? 'http://127.0.0.1:8080';
const TOKEN = process.env.OCTOHOOKS_TOKEN ?? '';
const RECEIVER = process.env.OCTOHOOKS_RECEIVER ?? '';
const client = new Octohooks(URL, TOKEN);

async function eventually(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('implements every documented operation', async () => {
  const document = await client.getOpenApiDocument();
  const documented = new Set();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) documented.add(`${operation.operationId} ${method.toUpperCase()} ${path}`);
  }
  const implemented = new Set(Object.entries(OPERATIONS).map(([id, [method, path]]) => `${id} ${method} ${path}`));
  assert.deepEqual([...implemented].sort(), [...documented].sort());
  for (const id of Object.keys(OPERATIONS)) assert.equal(typeof client[id], 'function', id);
});

test('a message is delivered and resent', async () => {
  const uid = `ts-${randomUUID().slice(0, 12)}`;
  const app = await client.createApplication({ name: 'TypeScript', uid }, { idempotencyKey: uid });
  assert.deepEqual(await client.createApplication({ name: 'TypeScript', uid }, { idempotencyKey: uid }), app);
  const endpoint = await client.createEndpoint(uid, { name: 'hooks', url: RECEIVER, uid: 'hooks' });
  assert.match((await client.getEndpointSecret(uid, 'hooks')).key, /^whsec_/);
  const message = await client.createMessage(uid, { eventType: 'user.created', payload: { id: 1 }, uid: 'm1' });
  const attempts = await eventually(async () => {
    const page = await client.listAttempts(uid, 'm1');
    return page.data.some((a) => a.status === 'success') && page.data;
  }, 'the delivery');
  assert.equal(attempts[0].endpointId, endpoint.id);
  const page = await client.listMessages(uid, { eventType: 'user.created', limit: 1 });
  assert.deepEqual(page.data.map((m) => m.id), [message.id]);
  assert.equal(page.iterator, null);
  await client.resendMessage(uid, 'm1', 'hooks');
  await eventually(async () => (await client.listAttempts(uid, 'm1')).data.length === 2, 'the resent delivery');
  assert.equal((await client.pauseEndpoint(uid, 'hooks')).paused, true);
  assert.equal((await client.resumeEndpoint(uid, 'hooks')).paused, false);
  assert.equal((await client.rotateEndpointSecret(uid, 'hooks', { gracePeriodSeconds: 60 })).secrets.length, 2);
  const stats = await client.getEndpointStats(uid, 'hooks');
  assert.equal(stats.hourly.reduce((n, b) => n + b.success, 0), 2);
  assert.equal((await client.listEndpointAttempts(uid, 'hooks', { status: 'success' })).data.length, 2);
  assert.match((await client.createPortalLink(uid, { readOnly: true })).url, /\/portal#token=/);
  await client.deleteApplication(uid);
  await assert.rejects(client.getApplication(uid), (e) => e instanceof ApiError && e.status === 404 && e.code === 'not_found');
});

test('catalogue, send-example, erasure and operational endpoints', async () => {
  const uid = `ts-${randomUUID().slice(0, 12)}`;
  const name = `${uid}.created`;
  const schema = { type: 'object', required: ['id'], properties: { id: { type: 'integer' } } };
  const made = await client.createEventType({ name, description: 'Made', schema, example: { id: 7 } });
  assert.equal(made.archived, false);
  assert.deepEqual((await client.getEventType(name)).example, { id: 7 });
  assert.deepEqual((await client.updateEventType(name, { schema, example: { id: 8 } })).example, { id: 8 });
  assert.ok((await client.listEventTypes({ limit: 250 })).data.some((t) => t.name === name));

  await client.createApplication({ name: 'TypeScript catalogue', uid });
  await client.createEndpoint(uid, { name: 'hooks', url: RECEIVER, uid: 'hooks' });
  const example = await client.sendExample(uid, 'hooks', name);
  assert.deepEqual([example.eventType, example.payload], [name, { id: 8 }]);
  await eventually(async () => (await client.listAttempts(uid, example.id)).data.some((a) => a.status === 'success'), "the example's delivery");
  assert.equal((await client.eraseMessageContent(uid, example.id)).payload, null);
  const job = await client.eraseMessages(uid, { uidPrefix: 'none-' });
  await eventually(async () => (await client.getErasureJob(uid, job.id)).status === 'done', 'the erasure job');
  assert.equal((await client.deleteEventType(name)).name, name);

  const ops = await client.createOperationalEndpoint({ name: `ops ${uid}`, url: RECEIVER });
  assert.equal((await client.getOperationalEndpoint(ops.id)).url, RECEIVER);
  assert.equal((await client.updateOperationalEndpoint(ops.id, { name: 'renamed', url: RECEIVER })).name, 'renamed');
  assert.ok((await client.listOperationalEndpoints({ limit: 250 })).data.some((e) => e.id === ops.id));
  assert.equal((await client.deleteOperationalEndpoint(ops.id)).id, ops.id);
  await client.deleteApplication(uid);
});

test('errors carry the API code', async () => {
  await assert.rejects(client.createApplication({ name: '' }), (e) => e.code === 'validation_error');
  await assert.rejects(new Octohooks(URL, 'oh_wrong').listApplications(), (e) => e.status === 401);
});

test('tokens and sessions', async () => {
  const made = await client.createToken({ name: `typescript ${randomUUID()}` });
  assert.ok(Array.isArray((await new Octohooks(URL, made.token).listApplications()).data));
  assert.ok((await client.listTokens({ limit: 250 })).data.some((t) => t.id === made.id));
  await client.revokeToken(made.id);
  const session = await client.createSession();
  assert.ok(session.cookie);
  assert.equal((await client.getSession(session)).org, session.session.org);
  await client.deleteSession(session);
  await assert.rejects(client.getSession(session), (e) => e.code === 'unauthorized');
});
