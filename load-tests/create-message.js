// POST messages (1 KB payload) to many applications.
// MODE=constant (RATE messages/s for DURATION) or MODE=ramping (0 → RATE over DURATION).
// VUS bounds the virtual users. Thresholds: < 1 % errors, p99 < 250 ms, and k6 kept the
// rate (dropped iterations, see lib.js).
import http from 'k6/http';
import { check } from 'k6';
import {
  API, APPS, params, payload, createApps, droppedIterations, seconds,
} from './lib.js';

const RATE = parseInt(__ENV.RATE || '2000', 10);
const DURATION = __ENV.DURATION || '30s';
const VUS = parseInt(__ENV.VUS || '128', 10);
const MODE = __ENV.MODE || 'constant';

const scenarios = {
  constant: {
    executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
    preAllocatedVUs: VUS, maxVUs: VUS,
  },
  ramping: {
    executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s',
    stages: [{ target: RATE, duration: DURATION }], preAllocatedVUs: VUS, maxVUs: VUS,
  },
};

export const options = {
  scenarios: { create: scenarios[MODE] },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(99)<250'],
    // Planned iterations: RATE x DURATION, half that for the linear ramp from 0.
    dropped_iterations: droppedIterations(
      RATE * seconds(DURATION) * (MODE === 'ramping' ? 0.5 : 1)),
  },
};

export function setup() {
  return { apps: createApps(APPS, 1) };
}

export default function (data) {
  const app = data.apps[Math.floor(Math.random() * data.apps.length)];
  const body = JSON.stringify({ eventType: 'load.test', payload: payload(1024) });
  const res = http.post(`${API}/applications/${app}/messages`, body, params);
  check(res, { 'accepted (202)': (r) => r.status === 202 });
}
