// A realistic mix: reads dominate, some writes. Per iteration one of:
// 40 % create message, 20 % list applications, 15 % get endpoint, 10 % list messages,
// 10 % create+update+delete endpoint, 5 % create+delete application.
import http from 'k6/http';
import { check } from 'k6';
import { API, APPS, RECEIVER_URL, params, payload, createApps } from './lib.js';

export const options = {
  vus: parseInt(__ENV.VUS || '64', 10),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(99)<300'],
    // A constant-VUs (closed) scenario never drops iterations: it slows down instead, which
    // shows in the request rate. The threshold keeps the rule uniform should this scenario
    // move to an arrival-rate executor.
    dropped_iterations: ['count<1'],
  },
};

export function setup() {
  return { apps: createApps(Math.min(APPS, 50), 1) };
}

const ok = (res, code) => check(res, { [`status ${code}`]: (r) => r.status === code });

export default function (data) {
  const app = data.apps[Math.floor(Math.random() * data.apps.length)];
  const roll = Math.random();
  if (roll < 0.40) {
    const body = JSON.stringify({ eventType: 'mix.test', payload: payload(512) });
    ok(http.post(`${API}/applications/${app}/messages`, body, params), 202);
  } else if (roll < 0.60) {
    ok(http.get(`${API}/applications?limit=50`, params), 200);
  } else if (roll < 0.75) {
    const list = http.get(`${API}/applications/${app}/endpoints`, params);
    ok(list, 200);
    const eps = list.json();
    if (eps.length > 0) ok(http.get(`${API}/applications/${app}/endpoints/${eps[0].id}`, params), 200);
  } else if (roll < 0.85) {
    ok(http.get(`${API}/applications/${app}/messages?limit=20`, params), 200);
  } else if (roll < 0.95) {
    const ep = http.post(`${API}/applications/${app}/endpoints`,
      JSON.stringify({ name: 'tmp', url: `${RECEIVER_URL}/tmp`, enabled: false }), params);
    ok(ep, 201);
    const id = ep.json('id');
    ok(http.put(`${API}/applications/${app}/endpoints/${id}`,
      JSON.stringify({ name: 'tmp2', url: `${RECEIVER_URL}/tmp`, enabled: false }), params), 200);
    ok(http.del(`${API}/applications/${app}/endpoints/${id}`, null, params), 200);
  } else {
    const a = http.post(`${API}/applications`, JSON.stringify({ name: 'tmp-app' }), params);
    ok(a, 201);
    ok(http.del(`${API}/applications/${a.json('id')}`, null, params), 200);
  }
}
