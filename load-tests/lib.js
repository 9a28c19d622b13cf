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

// Seconds in a k6 duration such as '30s', '2m', '1m30s', '500ms'.
export function seconds(duration) {
  let total = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += parseFloat(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit];
  }
  return total;
}

// Threshold on k6's `dropped_iterations` for an arrival-rate scenario planned to start
// `iterations` iterations. An arrival-rate executor drops an iteration when no VU is free to
// start it on time, i.e. when the generator (or the server behind it) cannot keep the rate;
// the figures of such a run describe a lower rate than asked, so it must fail. Fewer than
// 0.1 % of the planned iterations (none at all below 2,000 planned) tolerates a brief stall,
// e.g. while k6 warms up, without hiding a generator that saturates, which drops iterations
// by the hundred per second.
export function droppedIterations(iterations) {
  return [`count<${Math.max(1, Math.floor(iterations * 0.001))}`];
}

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
