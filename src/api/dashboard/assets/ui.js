// Building blocks of the pages. Everything is built as DOM nodes with text content (never
// HTML strings), so nothing the API returns can become markup.

/**
 * Creates an element: `h('a', {href: '#/', class: 'x', onclick: f}, 'text', child, [more])`.
 * Props starting with `on` are listeners; `dataset` sets data-*; `false`/`null` props are left
 * out; children may be strings, numbers, nodes, arrays, or null (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name === 'value') {
      element.value = value;
    } else if (name === 'checked') {
      element.checked = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `element`. */
export function mount(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// ---- formatting ----

/** `2026-11-27 14:03:09` in local time (epoch ms). */
export function time(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `3 min ago` / `in 20 s`. */
export function ago(ms) {
  if (ms === null || ms === undefined) return '—';
  const seconds = Math.round((Date.now() - ms) / 1000);
  const span = Math.abs(seconds);
  const text = span < 60 ? `${span} s` : span < 3600 ? `${Math.round(span / 60)} min` : span < 86400 ? `${Math.round(span / 3600)} h` : `${Math.round(span / 86400)} d`;
  return seconds >= 0 ? `${text} ago` : `in ${text}`;
}

/** `1 token`, `3 tokens`. */
export function plural(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** A time with its relative form as a tooltip. */
export function when(ms) {
  return h('time', { title: ago(ms), datetime: ms ? new Date(ms).toISOString() : '' }, time(ms));
}

/** Epoch ms from an `<input type="datetime-local">` value ('' → undefined). */
export function fromLocalInput(value) {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** The `<input type="datetime-local">` value of epoch ms. */
export function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

// ---- small components ----

/** A coloured label: kind is ok, bad, warn, info or muted. */
export function badge(kind, text, title) {
  return h('span', { class: `badge badge-${kind}`, title }, text);
}

/** The health badge of an endpoint: disabled, paused, or its circuit. */
export function healthBadge(endpoint) {
  if (!endpoint.enabled) return badge('muted', 'disabled', 'Disabled: nothing is delivered until it is enabled again.');
  if (endpoint.paused) return badge('warn', 'paused', 'Paused: deliveries are held until it is resumed.');
  const health = endpoint.health || {};
  switch (health.circuit) {
    case 'open':
      return badge('bad', 'circuit open', `Failing: ${health.consecutiveFailures} failures in a row; next probe ${ago(health.nextProbe)}.`);
    case 'half_open':
      return badge('warn', 'half-open', 'Probing the receiver after failures.');
    default:
      return health.consecutiveFailures > 0
        ? badge('warn', 'failing', `${health.consecutiveFailures} failures in a row`)
        : badge('ok', 'healthy', 'Circuit closed: delivering.');
  }
}

/** The badge of an attempt status. */
export function attemptBadge(status) {
  const kind = { success: 'ok', pending: 'warn', failed: 'bad' }[status] || 'muted';
  return badge(kind, status);
}

/** What an attempt got back: its HTTP status, or why there was none. */
export function outcome(attempt) {
  if (attempt.responseStatusCode) return h('code', { class: attempt.responseStatusCode < 300 ? 'ok' : 'bad' }, String(attempt.responseStatusCode));
  return h('code', { class: 'bad' }, attempt.error || '—');
}

/** A button. */
export function button(label, onclick, kind = '', extra = {}) {
  return h('button', { type: 'button', class: `btn ${kind}`.trim(), onclick, ...extra }, label);
}

/** A link styled as a button. */
export function linkButton(label, href, kind = '') {
  return h('a', { class: `btn ${kind}`.trim(), href }, label);
}

/** Runs `action` from a button, disabling it meanwhile and reporting failures. */
export function busy(action) {
  return async (event) => {
    const target = event && event.currentTarget;
    if (target) target.disabled = true;
    try {
      await action(event);
    } catch (e) {
      toast(e.message || String(e), 'bad');
    } finally {
      if (target && target.isConnected) target.disabled = false;
    }
  };
}

/** The "copy" icon (two overlapping sheets), as SVG. */
function copyIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const icon = document.createElementNS(ns, 'svg');
  icon.setAttribute('viewBox', '0 0 16 16');
  icon.setAttribute('class', 'icon');
  icon.setAttribute('aria-hidden', 'true');
  for (const [x, y] of [[5, 5], [2, 2]]) {
    const sheet = document.createElementNS(ns, 'rect');
    for (const [name, value] of Object.entries({ x, y, width: 9, height: 9, rx: 1.5 })) sheet.setAttribute(name, value);
    icon.append(sheet);
  }
  return icon;
}

/** A copy-to-clipboard button (an icon when no label is given). */
export function copyButton(text, label) {
  return button(label || copyIcon(), async (event) => {
    const target = event.currentTarget;
    try {
      await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
      toast('Copied to the clipboard', 'ok');
    } catch {
      // No clipboard (insecure context): select the text next to the button instead.
      const sibling = target.previousElementSibling;
      if (sibling) window.getSelection().selectAllChildren(sibling);
      toast('Select the text and copy it', 'info');
    }
  }, 'small', { title: 'Copy', 'aria-label': 'Copy' });
}

/** A card with a title, optional header actions, and content. */
export function card(title, actions, ...content) {
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', {}, title), actions ? h('div', { class: 'actions' }, actions) : null),
    h('div', { class: 'card-body' }, content));
}

/** A table: columns `[{title, cell: row => node}]`, with a message when empty. */
export function table(columns, rows, empty = 'Nothing yet.', rowProps = () => ({})) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.title)))),
    h('tbody', {}, rows.map((row) => h('tr', rowProps(row), columns.map((c) => h('td', { class: c.class }, c.cell(row))))))));
}

/** A labelled form field. */
export function field(label, input, help) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, help ? h('small', {}, help) : null);
}

/** Pretty-printed JSON with light highlighting (as text spans). */
export function jsonView(value) {
  const text = JSON.stringify(value, null, 2);
  const pre = h('pre', { class: 'json' });
  const token = /("(?:\\.|[^"\\])*"(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    pre.append(text.slice(last, match.index));
    const part = match[0];
    const kind = part.startsWith('"') ? (match[2] ? 'key' : 'string') : /^[tfn]/.test(part) ? 'literal' : 'number';
    pre.append(h('span', { class: `j-${kind}` }, part));
    last = match.index + part.length;
  }
  pre.append(text.slice(last));
  return pre;
}

/** A short notice in the corner. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const note = h('div', { class: `toast toast-${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, message);
  box.append(note);
  setTimeout(() => note.remove(), kind === 'bad' ? 8000 : 3500);
}

/**
 * A modal form. `fields` are nodes; `submit(form)` may throw (the message is shown in the
 * dialog). Resolves with submit's result, or undefined when cancelled (`cancel: false` for a
 * dialog that only informs).
 */
export function dialog(title, fields, submitLabel, submit, kind = 'primary', { cancel = true } = {}) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const form = h('form', { method: 'dialog', class: 'dialog-form' },
      h('h2', {}, title), fields, error,
      h('div', { class: 'actions' },
        cancel ? button('Cancel', () => { modal.close(); resolve(undefined); }) : null,
        h('button', { type: 'submit', class: `btn ${kind}` }, submitLabel)));
    const modal = h('dialog', { class: 'modal' }, form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const submitButton = form.querySelector('button[type=submit]');
      submitButton.disabled = true;
      try {
        const result = await submit(form);
        modal.close();
        resolve(result === undefined ? true : result);
      } catch (e) {
        error.textContent = e.message || String(e);
      } finally {
        submitButton.disabled = false;
      }
    });
    modal.addEventListener('close', () => { modal.remove(); resolve(undefined); });
    document.body.append(modal);
    modal.showModal();
    const first = form.querySelector('input, textarea, select');
    if (first) first.focus();
  });
}

/** Asks for confirmation; resolves true when confirmed. */
export async function confirm(title, text, label = 'Delete', kind = 'danger') {
  return Boolean(await dialog(title, [h('p', {}, text)], label, () => true, kind));
}

/** Splits a comma/space separated list into trimmed non-empty items. */
export function list(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** Parses JSON from a form field, naming the field when it is not JSON. */
export function parseJsonField(text, name) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${e.message}`);
  }
}

/** A page header: a title, a subtitle line, and actions. */
export function pageHead(title, subtitle, actions = []) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, title), subtitle ? h('div', { class: 'subtitle' }, subtitle) : null),
    h('div', { class: 'actions' }, actions));
}

/** Breadcrumbs: `[[label, href], ..., label]`. */
export function crumbs(...parts) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, parts.map((part, i) => [
    i ? h('span', { class: 'sep' }, '/') : null,
    Array.isArray(part) ? h('a', { href: part[1] }, part[0]) : h('span', {}, part),
  ]));
}

/** `id` in a monospace chip with a copy button. */
export function idChip(id) {
  return h('span', { class: 'id-chip' }, h('code', {}, id), copyButton(id));
}
