// A small time-series line chart in SVG, drawn by hand: the last ten minutes of a few series,
// with the 80 % utilisation target as a line.

const NS = 'http://www.w3.org/2000/svg';
export const WINDOW_MS = 10 * 60 * 1000;

export interface Series {
  name: string;
  cls: string; // CSS class of the line (its colour)
  points: [number, number][]; // [time ms, value]
}

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function lineChart(series: Series[], opts: { max: number; target?: number; label: string; now: number }): SVGElement {
  const W = 300;
  const H = 90;
  const top = 4;
  const bottom = H - 14;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': opts.label });
  const max = Math.max(opts.max, 1e-9);
  const x = (t: number) => ((t - (opts.now - WINDOW_MS)) / WINDOW_MS) * W;
  const y = (v: number) => bottom - (Math.min(v, max) / max) * (bottom - top);
  svg.append(el('line', { x1: 0, x2: W, y1: bottom, y2: bottom, class: 'axis' }));
  if (opts.target !== undefined) {
    svg.append(el('line', { x1: 0, x2: W, y1: y(opts.target), y2: y(opts.target), class: 'target' }));
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([t, v], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.append(el('path', { d, class: `line ${s.cls}` }));
  }
  const left = el('text', { x: 2, y: H - 2, class: 'tick' });
  left.textContent = '−10 min';
  const right = el('text', { x: W - 2, y: H - 2, class: 'tick end' });
  right.textContent = 'now';
  const ceiling = el('text', { x: 2, y: top + 8, class: 'tick' });
  ceiling.textContent = String(opts.max);
  svg.append(left, right, ceiling);
  return svg;
}
