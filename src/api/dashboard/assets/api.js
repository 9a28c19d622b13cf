// Calls to the public Octohooks API, the only thing the pages talk to.
//
// The dashboard authenticates with its session cookie (sent by the browser, unreadable to
// scripts) and echoes the session's CSRF secret on every change; the portal authenticates
// with the application-scoped bearer token of its link. Every POST carries a fresh
// Idempotency-Key, so a retried click never does a thing twice.

const BASE = '/api/v1';

/** An error answer of the API: `{code, detail}` plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_error';
  }
}

const auth = { csrf: null, token: null, onUnauthorized: null };

/** Signs requests with the session cookie and this CSRF secret. */
export function useSession(csrf) {
  auth.csrf = csrf;
  auth.token = null;
}

/** Signs requests with a bearer token instead (the portal). */
export function useToken(token) {
  auth.token = token;
  auth.csrf = null;
}

/** Called once when an answer says the credentials no longer work. */
export function onUnauthorized(callback) {
  auth.onUnauthorized = callback;
}

function idempotencyKey() {
  return globalThis.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

/** Builds `path?query` from an object, leaving out empty values. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * One request; resolves to `{data, next}` (`next`: the cursor of the following page) or
 * rejects with an ApiError.
 */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth.token) {
    headers.Authorization = `Bearer ${auth.token}`;
  } else if (method !== 'GET') {
    headers['X-Octohooks-CSRF'] = auth.csrf || '1';
  }
  // Signing in opens a new session each time: it takes no Idempotency-Key.
  if (method === 'POST' && path !== '/auth/session') headers['Idempotency-Key'] = idempotencyKey();
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, 'network_error', `The server cannot be reached (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data && data.code, data && data.detail);
    if (response.status === 401 && auth.onUnauthorized && path !== '/auth/session') auth.onUnauthorized(error);
    throw error;
  }
  return { data, next: response.headers.get('x-next-iterator') };
}

export const get = (path, query) => request('GET', withQuery(path, query));
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** Every page of a list, up to `max` items. */
export async function all(path, query = {}, max = 1000) {
  const items = [];
  let iterator;
  do {
    const { data, next } = await get(path, { ...query, limit: 250, iterator });
    items.push(...data);
    iterator = next;
  } while (iterator && items.length < max);
  return { items, more: Boolean(iterator) };
}

/** The path segment of an entity (its id: uids may need escaping, ids never do). */
export const seg = (value) => encodeURIComponent(value);

/** Paths of the entities the pages use. */
export const paths = {
  apps: () => '/applications',
  app: (app) => `/applications/${seg(app)}`,
  endpoints: (app) => `/applications/${seg(app)}/endpoints`,
  endpoint: (app, ep) => `/applications/${seg(app)}/endpoints/${seg(ep)}`,
  messages: (app) => `/applications/${seg(app)}/messages`,
  message: (app, msg) => `/applications/${seg(app)}/messages/${seg(msg)}`,
};
