// Messages flow to endpoints on the local receiver at a constant RATE; at the end the
// receiver's figures (deliveries, duplicates, create→delivery lag) are printed.
import http from 'k6/http';
import { check, sleep } from 'k6';
import {
  API, APPS, RECEIVER_URL, params, payload, createApps, droppedIterations, seconds,
} from './lib.js';

const RATE = parseInt(__ENV.RATE || '1000', 10);
const DURATION = __ENV.DURATION || '30s';
const VUS = parseInt(__ENV.VUS || '64', 10);

export const options = {
  scenarios: {
    e2e: {
      executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: VUS, maxVUs: VUS,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    // The lag figures only hold at RATE: fail when k6 could not keep it (see lib.js).
    dropped_iterations: droppedIterations(RATE * seconds(DURATION)),
  },
};

export function setup() {
  const apps = createApps(APPS, 1);
  http.post(`${RECEIVER_URL}/reset`);
  return { apps };
}

export default function (data) {
  const app = data.apps[Math.floor(Math.random() * data.apps.length)];
  const body = JSON.stringify({ eventType: 'e2e.test', payload: payload(1024) });
  check(http.post(`${API}/applications/${app}/messages`, body, params), {
    'accepted (202)': (r) => r.status === 202,
  });
}

export function teardown() {
  sleep(3); // let the last deliveries land
  const stats = http.get(`${RECEIVER_URL}/stats`).json();
  console.log(`receiver: ${JSON.stringify(stats)}`);
}
