// Bar charts of successes and failures per period, drawn as SVG (no library).

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

/** The top of the axis: four equal steps of 1, 2 or 5 × 10^n that reach `max`. */
function niceMax(max) {
  let magnitude = 1;
  for (;;) {
    for (const step of [1, 2, 5]) {
      if (4 * step * magnitude >= max) return 4 * step * magnitude;
    }
    magnitude *= 10;
  }
}

/**
 * A stacked bar chart of `buckets` (`[{start, success, failure}]`, oldest first), one bar per
 * bucket, successes below failures. `label(start)` names a bucket on the axis.
 */
export function deliveryChart(buckets, label, { height = 180 } = {}) {
  const width = 1000;
  const pad = { left: 40, right: 8, top: 10, bottom: 26 };
  const inner = { w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.success + b.failure)));
  const y = (value) => pad.top + inner.h - (value / max) * inner.h;
  const slot = inner.w / Math.max(1, buckets.length);
  const bar = Math.max(2, slot * 0.7);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  const total = buckets.reduce((n, b) => n + b.success + b.failure, 0);
  const failures = buckets.reduce((n, b) => n + b.failure, 0);
  chart.append(svg('title', {}, `${total} deliveries, ${failures} failed`));
  for (let i = 0; i <= 4; i++) {
    const value = (max / 4) * i;
    chart.append(
      svg('line', { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: 'grid' }),
      svg('text', { x: pad.left - 6, y: y(value) + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(value))),
    );
  }
  const every = Math.ceil(buckets.length / 8);
  buckets.forEach((bucket, i) => {
    const x = pad.left + i * slot + (slot - bar) / 2;
    const group = svg('g', { class: 'bar' });
    group.append(svg('title', {}, `${label(bucket.start)}: ${bucket.success} delivered, ${bucket.failure} failed`));
    if (bucket.success) group.append(svg('rect', { x, width: bar, y: y(bucket.success), height: y(0) - y(bucket.success), class: 'ok' }));
    if (bucket.failure) {
      const top = bucket.success + bucket.failure;
      group.append(svg('rect', { x, width: bar, y: y(top), height: y(bucket.success) - y(top), class: 'bad' }));
    }
    // An invisible full-height target so the tooltip works on empty periods too.
    group.append(svg('rect', { x: pad.left + i * slot, width: slot, y: pad.top, height: inner.h, class: 'hit' }));
    chart.append(group);
    if (i % every === 0 || i === buckets.length - 1) {
      chart.append(svg('text', { x: x + bar / 2, y: height - 8, class: 'axis', 'text-anchor': 'middle' }, label(bucket.start)));
    }
  });
  return chart;
}

/** `14:00` for hourly buckets. */
export const hourLabel = (ms) => `${String(new Date(ms).getHours()).padStart(2, '0')}:00`;

/** `11-27` for daily buckets. */
export const dayLabel = (ms) => {
  const d = new Date(ms);
  return `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

/** Adds up the hourly (or daily) buckets of several endpoints, period by period. */
export function sumBuckets(series) {
  const byStart = new Map();
  for (const buckets of series) {
    for (const b of buckets) {
      const sum = byStart.get(b.start) || { start: b.start, success: 0, failure: 0 };
      sum.success += b.success;
      sum.failure += b.failure;
      byStart.set(b.start, sum);
    }
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/** A one-line legend for the charts. */
export function legend(h) {
  return h('div', { class: 'legend' },
    h('span', { class: 'swatch ok' }), 'delivered ',
    h('span', { class: 'swatch bad' }), 'failed');
}
