// Small charts drawn as inline SVG: bars (optionally stacked in two parts) and
// a line. No library: a chart is a handful of <rect>/<polyline> elements
// with a <title> each, so the numbers are also there for screen readers and
// tests (every mark carries data-label and data-value).

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

function title(text) {
  const t = svg("title");
  t.textContent = text;
  return t;
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function frame(width, height, label) {
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    class: "chart",
  });
}

const W = 300;
const H = 120;
const PAD = { top: 8, right: 6, bottom: 18, left: 30 };

function axes(root, max, format) {
  const bottom = H - PAD.bottom;
  root.append(
    svg("line", { x1: PAD.left, y1: bottom, x2: W - PAD.right, y2: bottom, class: "axis" }),
    svg("text", { x: PAD.left - 4, y: PAD.top + 4, class: "tick", "text-anchor": "end" }, null),
    svg("text", { x: PAD.left - 4, y: bottom, class: "tick", "text-anchor": "end" }, null),
  );
  const ticks = root.querySelectorAll("text.tick");
  ticks[0].textContent = format(max);
  ticks[1].textContent = "0";
}

function xLabels(root, points, step) {
  // First and last label only: the panel is narrow.
  const bottom = H - PAD.bottom;
  if (!points.length) return;
  const ends = points.length > 1 ? [0, points.length - 1] : [0];
  for (const i of ends) {
    const t = svg("text", {
      x: PAD.left + step * i + step / 2, y: bottom + 12, class: "tick",
      "text-anchor": i === 0 && points.length > 1 ? "start" : "end",
    });
    t.textContent = points[i].short || points[i].label;
    root.append(t);
  }
}

/**
 * Bars, one per point: {label, short?, value, part?} where `part` (<= value)
 * is drawn as a second colour at the bottom of the bar (e.g. abandoned).
 */
export function barChart(points, { label, format = String, partLabel = "" } = {}) {
  const root = frame(W, H, label);
  const max = niceMax(Math.max(0, ...points.map((p) => p.value || 0)));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = points.length ? innerW / points.length : innerW;
  const barW = Math.max(1, step * 0.7);
  axes(root, max, format);
  points.forEach((p, i) => {
    const value = p.value || 0;
    const x = PAD.left + step * i + (step - barW) / 2;
    const hgt = (value / max) * innerH;
    const text = `${p.label}: ${format(value)}${p.part ? `, ${partLabel} ${format(p.part)}` : ""}`;
    const bar = svg("rect", {
      x, y: PAD.top + innerH - hgt, width: barW, height: hgt, class: "bar",
      "data-label": p.label, "data-value": value,
    }, title(text));
    root.append(bar);
    if (p.part) {
      const partH = (Math.min(p.part, value) / max) * innerH;
      root.append(svg("rect", {
        x, y: PAD.top + innerH - partH, width: barW, height: partH, class: "bar part",
        "data-label": p.label, "data-value": p.part,
      }, title(text)));
    }
  });
  xLabels(root, points, step);
  return root;
}

/** A line through the points with a value (null values leave a gap). */
export function lineChart(points, { label, format = String } = {}) {
  const root = frame(W, H, label);
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const max = niceMax(Math.max(0, ...values));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = points.length ? innerW / points.length : innerW;
  axes(root, max, format);
  let run = [];
  const flush = () => {
    if (run.length > 1) root.append(svg("polyline", { points: run.join(" "), class: "line" }));
    run = [];
  };
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      flush();
      return;
    }
    const x = PAD.left + step * i + step / 2;
    const y = PAD.top + innerH - (p.value / max) * innerH;
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    root.append(svg("circle", {
      cx: x, cy: y, r: 2.5, class: "dot",
      "data-label": p.label, "data-value": p.value,
    }, title(`${p.label}: ${format(p.value)}`)));
  });
  flush();
  xLabels(root, points, step);
  return root;
}
