// Shared helpers of the k6 scenarios. Configuration comes from the environment:
//   BASE_URL (default http://127.0.0.1:8080), TOKEN (bearer token), RECEIVER_URL (default
//   http://127.0.0.1:9000), APPS (applications to spread messages over, default 100).
import http from 'k6/http';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const TOKEN = __ENV.TOKEN || 'loadtest';
export const RECEIVER_URL = __ENV.RECEIVER_URL || 'http://127.0.0.1:9000';
export const APPS = parseInt(__ENV.APPS || '100', 10);
export const API = `${BASE_URL}/api/v1`;

export const params = {
  headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
};

// A payload of about `size` bytes, with the send time for create→delivery lag.
export function payload(size) {
  return { sentAt: Date.now(), filler: 'x'.repeat(Math.max(0, size - 40)) };
}

// Creates `count` applications with one endpoint each on the receiver; returns their ids.
export function createApps(count, endpointsPerApp) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const app = http.post(`${API}/applications`, JSON.stringify({ name: `load-${i}` }), params);
    if (app.status !== 201) throw new Error(`create app: ${app.status} ${app.body}`);
    const id = app.json('id');
    for (let e = 0; e < (endpointsPerApp ?? 1); e++) {
      const ep = http.post(
        `${API}/applications/${id}/endpoints`,
        JSON.stringify({ name: `ep-${e}`, url: `${RECEIVER_URL}/hook/${i}/${e}` }),
        params,
      );
      if (ep.status !== 201) throw new Error(`create endpoint: ${ep.status} ${ep.body}`);
    }
    ids.push(id);
  }
  return ids;
}
