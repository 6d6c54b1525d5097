// charts.js: real charts with the vendored uPlot (MIT, assets/dashboard/vendor/): calls per
// day stacked by source, and pool utilisation over time. Charts follow their box's width,
// so they stay readable on a 375 px phone.

const uPlot = window.uPlot;

/** Times on the axes and in the legends are UTC, like the API's. */
const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');

export const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2',
  '#db2777', '#65a30d', '#64748b'];

/** A y axis wide enough for its longest label ("12,000"). */
function yAxisSize(u, values) {
  const longest = (values || []).reduce((m, v) => Math.max(m, String(v).length), 1);
  return Math.max(36, longest * 8 + 18);
}

/** Axis steps for counts: whole numbers only. */
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

const charts = new Set();
let watching = false;

function sized(box, height) {
  return { width: Math.max(280, box.clientWidth || 600), height };
}

function keep(chart, box, height) {
  chart.box = box;
  chart.boxHeight = height;
  charts.add(chart);
  if (!watching) {
    watching = true;
    window.addEventListener('resize', () => {
      for (const c of charts) {
        if (!c.box.isConnected) { c.destroy(); charts.delete(c); continue; }
        c.setSize(sized(c.box, c.boxHeight));
      }
    });
  }
  return chart;
}

/**
 * Bars per day, stacked: `days` are YYYY-MM-DD, `series` [{label, values}] bottom first.
 * The legend shows each source's own count for the hovered day.
 */
export function stackedBars(box, days, series, height = 260) {
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const stacked = [];
  let running = days.map(() => 0);
  for (const s of series) {
    running = running.map((v, i) => v + (s.values[i] || 0));
    stacked.push(running);
  }
  // Drawn top of the stack first, so each lower band paints over the one above it.
  const order = series.map((_, i) => i).reverse();
  const bars = uPlot.paths.bars({ size: [0.7, 48], align: 0 });
  const half = 43200;
  const opts = {
    ...sized(box, height),
    class: 'chart',
    tzDate: utc,
    scales: {
      x: { time: true, range: () => [xs[0] - half, xs[xs.length - 1] + half] },
      y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
    },
    axes: [
      {
        // One tick per day (every few days when they would crowd), labelled MM-DD.
        splits: (u) => {
          const every = Math.max(1, Math.ceil(xs.length / Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 56))));
          return xs.filter((_, i) => i % every === 0);
        },
        values: (u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(5, 10)),
      },
      { size: yAxisSize, incrs: COUNT_STEPS },
    ],
    legend: { live: true },
    cursor: { points: { show: false } },
    series: [
      { label: 'Day', value: (u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...order.map((i) => ({
        label: series[i].label,
        stroke: PALETTE[i % PALETTE.length],
        fill: PALETTE[i % PALETTE.length],
        width: 0,
        paths: bars,
        points: { show: false },
        value: (u, v, si, idx) => (idx === null || idx === undefined ? '—' : String(series[i].values[idx] || 0)),
      })),
    ],
  };
  const data = [xs, ...order.map((i) => stacked[i])];
  return keep(new uPlot(opts, data, box), box, height);
}

/** Lines over time: `xs` in seconds, `series` [{label, values, color, dash}]. */
export function lines(box, xs, series, height = 220) {
  const opts = {
    ...sized(box, height),
    class: 'chart',
    tzDate: utc,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ space: 70 }, { size: yAxisSize, incrs: COUNT_STEPS }],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || PALETTE[i % PALETTE.length],
        width: 2,
        dash: s.dash,
        fill: s.fill,
        paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: { show: false },
      })),
    ],
  };
  return keep(new uPlot(opts, [xs, ...series.map((s) => s.values)], box), box, height);
}
