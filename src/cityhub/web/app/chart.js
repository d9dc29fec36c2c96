// A small SVG time-series chart: [[value, isoTime], ...] -> axes, grid, line and points.
const NS = "http://www.w3.org/2000/svg";
const W = 360;
const H = 180;
const PAD = { l: 44, r: 10, t: 10, b: 26 };

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(min, max, count = 4) {
  const span = max - min || Math.abs(max) || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const start = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = start; v <= max + step * 0.5; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 2 * 86400e3) return d.toLocaleDateString([], { month: "short", day: "numeric" });
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function drawChart(figure, series, { unit = "", empty = "", caption = "" } = {}) {
  figure.replaceChildren();
  figure.dataset.points = String(series.length);
  if (series.length === 0) {
    figure.append(Object.assign(document.createElement("p"), { className: "muted", textContent: empty }));
    return;
  }
  const pts = series.map(([v, at]) => [Date.parse(at), v]);
  let [t0, t1] = [pts[0][0], pts[pts.length - 1][0]];
  if (t0 === t1) { t0 -= 60e3; t1 += 60e3; }
  const values = pts.map((p) => p[1]);
  const ticks = niceTicks(Math.min(...values), Math.max(...values));
  const [v0, v1] = [ticks[0], ticks[ticks.length - 1] === ticks[0] ? ticks[0] + 1 : ticks[ticks.length - 1]];
  const x = (tm) => PAD.l + ((tm - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - ((v - v0) / (v1 - v0)) * (H - PAD.t - PAD.b);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg",
    "aria-label": `${series.length} values from ${series[0][1]} to ${series[series.length - 1][1]}` });
  for (const v of ticks) {
    svg.append(el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: PAD.l - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, String(v)));
  }
  for (let i = 0; i <= 3; i++) {
    const tm = t0 + ((t1 - t0) * i) / 3;
    svg.append(el("text", { x: x(tm), y: H - 8, class: "tick", "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle" },
      timeLabel(tm, t1 - t0)));
  }
  const d = pts.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
  const area = `${d}L${x(pts[pts.length - 1][0]).toFixed(1)},${H - PAD.b}L${x(pts[0][0]).toFixed(1)},${H - PAD.b}Z`;
  svg.append(el("path", { d: area, class: "area" }));
  svg.append(el("path", { d, class: "line" }));
  if (pts.length <= 120) {
    for (const p of pts) svg.append(el("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.5, class: "dot" }));
  }
  const last = series[series.length - 1];
  const cap = document.createElement("figcaption");
  cap.innerHTML = `<strong>${last[0]}${unit ? " " + unit : ""}</strong> <span class="muted">· ${caption}</span>`;
  figure.append(svg, cap);
}
