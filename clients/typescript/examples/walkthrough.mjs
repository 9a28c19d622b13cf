// The walk-through in JavaScript (npm install ./clients/typescript). Needs a running server and
// a receiver, e.g. `octohooks listen --port 9000 --secret whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`.
import { randomUUID } from 'node:crypto';
import { Octohooks } from 'octohooks';

const client = new Octohooks(process.env.OCTOHOOKS_URL ?? 'http://127.0.0.1:8080', process.env.OCTOHOOKS_TOKEN);
const receiver = process.env.RECEIVER_URL ?? 'http://127.0.0.1:9000/webhooks';

// An application per customer, addressed by its id or your own uid
await client.createApplication({ name: 'My App', uid: 'my-app' });
console.log('application', (await client.getApplication('my-app')).id);

// An endpoint: where its webhooks go, signed with this secret
await client.createEndpoint('my-app', {
  name: 'My Endpoint', uid: 'my-endpoint', url: receiver, eventTypes: ['user.created'],
  secrets: ['whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'],
});

// A message, accepted once (retry safely with the same idempotency key)
await client.createMessage('my-app',
  { eventType: 'user.created', uid: 'evt-1', payload: { email: 'john@example.com' } },
  { idempotencyKey: randomUUID() });

// Its delivery attempts (wait for the first one)
while (!(await client.listAttempts('my-app', 'evt-1')).data.some((a) => a.status === 'success')) {
  await new Promise((resolve) => setTimeout(resolve, 200));
}
console.log('messages', (await client.listMessages('my-app', { eventType: 'user.created', limit: 10 })).data.map((m) => m.id));

// Resend it (wait for it in the endpoint's log), see the stats
await client.resendMessage('my-app', 'evt-1', 'my-endpoint');
while ((await client.listEndpointAttempts('my-app', 'my-endpoint', { status: 'success' })).data.length < 2) {
  await new Promise((resolve) => setTimeout(resolve, 200));
}
console.log('stats', (await client.getEndpointStats('my-app', 'my-endpoint')).hourly.at(-1));

// Pause and resume the endpoint, rotate its secret (the old one signs for an hour more)
await client.pauseEndpoint('my-app', 'my-endpoint');
await client.resumeEndpoint('my-app', 'my-endpoint');
await client.rotateEndpointSecret('my-app', 'my-endpoint', { gracePeriodSeconds: 3600 });

// A customer portal link for this application
console.log('portal', (await client.createPortalLink('my-app', { expiresIn: 3600 })).url);

// Clean up: deleting an application deletes its endpoints, messages and pending work
await client.deleteApplication('my-app');
