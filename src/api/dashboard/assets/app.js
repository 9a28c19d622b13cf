// The dashboard's entry point: finds out who is signed in (or reads the portal link), draws
// the frame, and routes `#/...` addresses to pages.

import * as api from './api.js';
import { h, mount, toast, button, busy } from './ui.js';
import { signInPage } from './pages/signin.js';
import { applicationsPage } from './pages/applications.js';
import { applicationPage } from './pages/application.js';
import { endpointPage, newEndpointPage } from './pages/endpoint.js';
import { messagePage } from './pages/message.js';
import { tokensPage } from './pages/tokens.js';
import { eventTypesPage } from './pages/event-types.js';
import { operationalPage } from './pages/operational.js';

const root = document.getElementById('app');
const isPortal = location.pathname === '/portal';
const PORTAL_KEY = 'octohooks-portal';

/** Addresses of the pages; the portal's are relative to its one application. */
function hrefs(portalApp) {
  const id = encodeURIComponent;
  if (portalApp) {
    return {
      apps: () => '#/',
      app: () => '#/',
      endpoint: (_, ep) => `#/endpoints/${id(ep)}`,
      newEndpoint: () => '#/endpoints/new',
      message: (_, msg) => `#/messages/${id(msg)}`,
    };
  }
  return {
    apps: () => '#/apps',
    app: (app) => `#/apps/${id(app)}`,
    endpoint: (app, ep) => `#/apps/${id(app)}/endpoints/${id(ep)}`,
    newEndpoint: (app) => `#/apps/${id(app)}/endpoints/new`,
    message: (app, msg) => `#/apps/${id(app)}/messages/${id(msg)}`,
  };
}

/** Routes: a pattern of `#/...` segments (`:name` captures one) and its page. */
const DASHBOARD_ROUTES = [
  ['apps', applicationsPage],
  ['apps/:app', applicationPage],
  ['apps/:app/endpoints/new', newEndpointPage],
  ['apps/:app/endpoints/:endpoint', endpointPage],
  ['apps/:app/messages/:message', messagePage],
  ['event-types', eventTypesPage],
  ['operational-webhooks', operationalPage],
  ['tokens', tokensPage],
];
const PORTAL_ROUTES = [
  ['', applicationPage],
  ['endpoints/new', newEndpointPage],
  ['endpoints/:endpoint', endpointPage],
  ['messages/:message', messagePage],
];

function match(routes, hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  for (const [pattern, page] of routes) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((segment, i) => {
      if (segment.startsWith(':')) {
        params[segment.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return segment === parts[i];
    });
    if (ok) return { page, params, section: want[0] || '' };
  }
  return null;
}

/** The frame around every page: top bar, navigation, the page. */
function frame(ctx, nav) {
  const view = h('main', { id: 'view' });
  const signOut = ctx.portal ? null : button('Sign out', busy(async () => {
    await api.del('/auth/session');
    sessionStorage.clear();
    // Signed out on purpose: the page must not load (and fail with "session ended") first.
    window.onhashchange = null;
    api.onUnauthorized(null);
    location.hash = '#/apps';
    start();
  }), 'ghost', { id: 'sign-out' });
  mount(root,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: ctx.href.apps() }, h('img', { src: '/assets/favicon.svg', alt: '' }),
        ctx.portal ? h('span', {}, ctx.portal.org || 'Webhooks', h('small', {}, ' · webhooks portal')) : h('span', {}, 'Octohooks')),
      h('div', { class: 'who' },
        ctx.portal ? null : h('span', { class: 'org', title: 'Organisation' }, ctx.org),
        signOut)),
    h('div', { class: 'layout' },
      h('nav', { class: 'side', 'aria-label': 'Sections' }, nav.map(([label, href, section]) =>
        h('a', { href, dataset: { section } }, label))),
      view));
  root.classList.remove('loading');
  return view;
}

function route(ctx, routes, view) {
  const found = match(routes, location.hash || '');
  for (const link of root.querySelectorAll('nav.side a')) {
    link.classList.toggle('active', Boolean(found) && link.dataset.section === found.section);
  }
  const page = h('div', { class: 'page' });
  mount(view, page);
  if (!found) {
    mount(page, h('h1', {}, 'Not found'), h('p', {}, 'There is no page at this address. ', h('a', { href: ctx.href.apps() }, 'Back to the start')));
    return;
  }
  const params = ctx.portal ? { ...found.params, app: ctx.portal.app } : found.params;
  found.page(page, ctx, params).catch((e) => {
    if (e.status === 401) return;
    mount(page, h('div', { class: 'error-box', role: 'alert' },
      h('h1', {}, e.status === 404 ? 'Not found' : 'Something went wrong'),
      h('p', {}, e.message || String(e))));
  });
}

function run(ctx, routes, nav, home) {
  const view = frame(ctx, nav);
  const go = () => route(ctx, routes, view);
  window.onhashchange = go;
  if (!match(routes, location.hash || '')) history.replaceState(null, '', home);
  go();
}

/** The dashboard: signed in through the session cookie, or the sign-in page. */
async function dashboard() {
  let session;
  try {
    session = (await api.get('/auth/session')).data;
  } catch (e) {
    if (e.status !== 401) throw e;
    window.onhashchange = null;
    root.classList.remove('loading');
    signInPage(root, (signedIn) => {
      api.useSession(signedIn.csrfToken);
      start();
    });
    return;
  }
  api.useSession(session.csrfToken);
  api.onUnauthorized(() => {
    toast('Your session has ended: sign in again', 'bad');
    start();
  });
  const ctx = { org: session.org, href: hrefs(null), portal: null };
  run(ctx, DASHBOARD_ROUTES, [
    ['Applications', '#/apps', 'apps'],
    ['Event types', '#/event-types', 'event-types'],
    ['Operational webhooks', '#/operational-webhooks', 'operational-webhooks'],
    ['API tokens', '#/tokens', 'tokens'],
  ], '#/apps');
}

/** The portal: the link's fragment carries an application-scoped token (kept for this tab). */
function portal() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (fragment.get('token')) {
    const link = {
      token: fragment.get('token'),
      app: fragment.get('app'),
      org: fragment.get('org') || '',
      accent: fragment.get('accent') || '',
      readOnly: fragment.get('readOnly') === '1',
    };
    sessionStorage.setItem(PORTAL_KEY, JSON.stringify(link));
    history.replaceState(null, '', '/portal#/');
  }
  let link = null;
  try {
    link = JSON.parse(sessionStorage.getItem(PORTAL_KEY) || 'null');
  } catch {
    link = null;
  }
  const expired = () => {
    sessionStorage.removeItem(PORTAL_KEY);
    window.onhashchange = null;
    root.classList.remove('loading');
    mount(root, h('div', { class: 'signin' }, h('div', { class: 'signin-box' },
      h('h1', {}, 'This link has expired'),
      h('p', {}, 'Portal links work for a short time only. Ask for a new one where you got this one.'))));
  };
  if (!link || !link.token || !link.app) {
    expired();
    return;
  }
  if (/^#[0-9a-fA-F]{3,8}$/.test(link.accent)) {
    document.documentElement.style.setProperty('--accent', link.accent);
  }
  document.title = `${link.org || 'Webhooks'} · webhooks`;
  api.useToken(link.token);
  api.onUnauthorized(expired);
  const ctx = { org: link.org, href: hrefs(link.app), portal: link, readOnly: link.readOnly };
  run(ctx, PORTAL_ROUTES, [['Endpoints', '#/', '']], '#/');
}

function start() {
  (isPortal ? Promise.resolve(portal()) : dashboard()).catch((e) => {
    root.classList.remove('loading');
    mount(root, h('div', { class: 'error-box' }, h('h1', {}, 'The dashboard cannot start'), h('p', {}, e.message || String(e))));
  });
}

start();
