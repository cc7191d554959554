// A reader of the Prometheus text exposition of GET /metrics: enough for the console's views
// (counters, gauges, histograms by label), not a general parser.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const l of m[2].matchAll(LABEL)) {
        labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    const raw = m[3] ?? 'NaN';
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    out.push({ name: m[1] ?? '', labels, value });
  }
  return out;
}

export function select(samples: Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

// Sum of `name` grouped by one label.
export function sumBy(samples: Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of select(samples, name)) {
    const key = s.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

// Cumulative histogram buckets of one series: [upper bound, count] sorted by bound.
export type Buckets = [number, number][];

export function histogramsBy(samples: Sample[], name: string, label: string): Map<string, Buckets> {
  const out = new Map<string, Buckets>();
  for (const s of select(samples, `${name}_bucket`)) {
    const key = s.labels[label] ?? '';
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    let b = out.get(key);
    if (!b) out.set(key, (b = []));
    b.push([le, s.value]);
  }
  for (const b of out.values()) b.sort((x, y) => x[0] - y[0]);
  return out;
}

// Bucket counts of `now` minus those of `before` (the requests of an interval).
export function subtract(now: Buckets, before: Buckets | undefined): Buckets {
  if (!before) return now;
  return now.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)]);
}

// The q-quantile (0..1) estimated as Prometheus' histogram_quantile does: linear inside the
// bucket; null without observations. Answers in the histogram's unit (seconds).
export function quantile(buckets: Buckets, q: number): number | null {
  const total = buckets.length ? buckets[buckets.length - 1]![1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = count - prevCount;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
