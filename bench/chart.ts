// bench/chart.ts — renders the benchmark results as an SVG bar chart (no dependencies).
// Grouped bars, one group per operation, one bar per contender, log-scale time axis.
//   npx tsx bench/chart.ts [bench/results/latest.json [bench/results/latest.svg]]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ChartSeries {
  label: string;
  color: string;
  /** value per group (ms); undefined or NaN = no bar */
  values: (number | undefined)[];
}

export interface ChartInput {
  title: string;
  subtitle: string[];
  groups: string[];
  series: ChartSeries[];
  yLabel: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmt(v: number): string {
  if (v >= 10000) return `${(v / 1000).toFixed(0)} s`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function renderSvg(c: ChartInput): string {
  const W = 1100;
  const top = 70 + 16 * c.subtitle.length;
  const plotH = 380;
  const left = 70;
  const right = 20;
  const legendH = 24 * Math.ceil(c.series.length / 4) + 10;
  const H = top + plotH + 60 + legendH;
  const plotW = W - left - right;
  const vals = c.series.flatMap((s) => s.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...vals, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...vals, 10)));
  const y = (v: number): number => top + plotH - ((Math.log10(v) - lo) / (hi - lo)) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(c.title)}</text>`,
  );
  c.subtitle.forEach((line, i) => out.push(`<text x="${W / 2}" y="${50 + 16 * i}" text-anchor="middle" fill="#444">${esc(line)}</text>`));
  // axis and grid: one line per decade
  for (let d = lo; d <= hi; d++) {
    const yy = y(10 ** d);
    out.push(
      `<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy + 4}" text-anchor="end" fill="#444">${esc(fmt(10 ** d))}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`,
    `<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`,
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#444">${esc(c.yLabel)}</text>`,
  );
  const groupW = plotW / c.groups.length;
  const barW = Math.min(26, (groupW - 20) / c.series.length);
  c.groups.forEach((g, gi) => {
    const present = c.series.map((s, si) => ({ s, si, v: s.values[gi] })).filter((b) => typeof b.v === 'number' && Number.isFinite(b.v) && b.v > 0);
    const x0 = left + gi * groupW + (groupW - present.length * barW) / 2;
    present.forEach((b, k) => {
      const v = b.v as number;
      const x = x0 + k * barW;
      const yy = Math.min(y(v), top + plotH - 1);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="${b.s.color}"><title>${esc(`${b.s.label} — ${g}: ${fmt(v)} ms`)}</title></rect>`,
        `<text transform="translate(${(x + barW / 2).toFixed(1)} ${(yy - 4).toFixed(1)}) rotate(-90)" font-size="10" fill="#222">${esc(fmt(v))}</text>`,
      );
    });
    out.push(`<text x="${left + gi * groupW + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle">${esc(g)}</text>`);
  });
  const ly = top + plotH + 44;
  c.series.forEach((s, i) => {
    const lx = left + (i % 4) * 250;
    const yy = ly + 24 * Math.floor(i / 4);
    out.push(`<rect x="${lx}" y="${yy - 11}" width="14" height="14" fill="${s.color}"/>`, `<text x="${lx + 20}" y="${yy}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---- a line chart on log-log axes (npm run bench:scale: latency against pool size) ----------------
export interface LineSeries {
  label: string;
  color: string;
  /** [x, y] points; y in ms */
  points: [number, number][];
  dashed?: boolean;
}

export interface LineChartInput {
  title: string;
  subtitle: string[];
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
}

const fmtCount = (v: number): string => (v >= 1e6 ? `${v / 1e6}M` : v >= 1000 ? `${v / 1000}k` : String(v));

export function renderLineSvg(c: LineChartInput): string {
  const W = 900;
  const top = 70 + 16 * c.subtitle.length;
  const plotH = 380;
  const left = 80;
  const right = 30;
  const legendH = 22 * c.series.length + 10;
  const H = top + plotH + 60 + legendH;
  const plotW = W - left - right;
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const xlo = Math.floor(Math.log10(Math.min(...xs, 1000))), xhi = Math.ceil(Math.log10(Math.max(...xs, 10_000)));
  const ylo = Math.floor(Math.log10(Math.min(...ys, 1))), yhi = Math.ceil(Math.log10(Math.max(...ys, 10)));
  const x = (v: number): number => left + ((Math.log10(v) - xlo) / (xhi - xlo)) * plotW;
  const y = (v: number): number => top + plotH - ((Math.log10(v) - ylo) / (yhi - ylo)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(c.title)}</text>`,
  ];
  c.subtitle.forEach((line, i) => out.push(`<text x="${W / 2}" y="${50 + 16 * i}" text-anchor="middle" fill="#444">${esc(line)}</text>`));
  for (let d = ylo; d <= yhi; d++) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(10 ** d)}" y2="${y(10 ** d)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(10 ** d) + 4}" text-anchor="end" fill="#444">${esc(fmt(10 ** d))}</text>`);
  }
  for (let d = xlo; d <= xhi; d++) {
    out.push(`<line x1="${x(10 ** d)}" x2="${x(10 ** d)}" y1="${top}" y2="${top + plotH}" stroke="#ddd"/>`,
      `<text x="${x(10 ** d)}" y="${top + plotH + 18}" text-anchor="middle" fill="#444">${esc(fmtCount(10 ** d))}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`,
    `<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`,
    `<text transform="translate(20 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#444">${esc(c.yLabel)}</text>`,
    `<text x="${left + plotW / 2}" y="${top + plotH + 40}" text-anchor="middle" fill="#444">${esc(c.xLabel)}</text>`);
  for (const s of c.series) {
    const pts = s.points.filter((p) => p[0] > 0 && p[1] > 0);
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const p of pts) {
      out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="4" fill="${s.color}"><title>${esc(`${s.label} — ${fmtCount(p[0])} images: ${fmt(p[1])} ms`)}</title></circle>`,
        `<text x="${(x(p[0]) + 7).toFixed(1)}" y="${(y(p[1]) - 6).toFixed(1)}" font-size="10" fill="${s.color}">${esc(fmt(p[1]))}</text>`);
    }
  }
  const ly = top + plotH + 64;
  c.series.forEach((s, i) => {
    out.push(`<line x1="${left}" x2="${left + 24}" y1="${ly + 22 * i - 4}" y2="${ly + 22 * i - 4}" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${left + 32}" y="${ly + 22 * i}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---- results JSON → chart ----------------------------------------------------------------------
type Json = Record<string, unknown>;
const get = (o: unknown, ...path: (string | number)[]): unknown => {
  let cur: unknown = o;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[String(k)];
  }
  return cur;
};
const numAt = (o: unknown, ...path: (string | number)[]): number | undefined => {
  const v = get(o, ...path);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

const GROUPS = ['create (per image)', 'remove (per image)', 'list names', 'page of 100 with details', 'full listing with details'];
const C_COLORS = ['#1f4e79', '#5b9bd5', '#2e75b6', '#9dc3e6'];
const S_COLORS = ['#c55a11', '#f4b183', '#ed7d31', '#f8cbad'];

export function chartFromResults(r: unknown): ChartInput {
  const conc = (get(r, 'config', 'concurrency') as number[] | undefined) ?? [1, 4];
  const series: ChartSeries[] = [];
  conc.forEach((c, i) => {
    const cr = get(r, 'c', String(c));
    series.push({
      label: `C librbd, ${c} thread${c > 1 ? 's' : ''}`,
      color: C_COLORS[i % C_COLORS.length] ?? '#1f4e79',
      values: [numAt(cr, 'create', 'ms_per_op'), numAt(cr, 'remove', 'ms_per_op'), numAt(cr, 'names', 'ms', 'p50'), numAt(cr, 'page', 'ms', 'p50'), numAt(cr, 'details', 'ms', 'p50')],
    });
  });
  conc.forEach((c, i) => {
    const sr = get(r, 'service', 'runs', String(c));
    series.push({
      label: `rbd-rest-api, ${c} client${c > 1 ? 's' : ''}`,
      color: S_COLORS[i % S_COLORS.length] ?? '#c55a11',
      values: [numAt(sr, 'create', 'ms_per_op'), numAt(sr, 'remove', 'ms_per_op'), numAt(sr, 'names', 'ms', 'p50'), numAt(sr, 'page', 'ms', 'p50'), numAt(sr, 'details', 'ms', 'p50')],
    });
  });
  series.push({
    label: 'rbd CLI (rbd ls / rbd ls -l)',
    color: '#70ad47',
    values: [undefined, undefined, numAt(r, 'rbd_cli', 'ls', 'ms', 'p50'), undefined, numAt(r, 'rbd_cli', 'ls_l', 'ms', 'p50')],
  });
  series.push({
    label: 'Ceph Dashboard REST API',
    color: '#7f6000',
    values: [undefined, undefined, undefined, numAt(r, 'dashboard', 'page100', 'ms', 'p50'), numAt(r, 'dashboard', 'full', 'ms', 'p50')],
  });
  const m = get(r, 'machine') as Json | undefined;
  const images = numAt(r, 'config', 'images');
  return {
    title: `rbd-rest-api vs librbd, rbd CLI and Ceph Dashboard — ${images ?? '?'} images`,
    subtitle: [
      `${String(get(r, 'date') ?? '')} · ${String(m?.nproc ?? '?')} CPUs (${String(m?.cpu ?? '?')}) · ${String(m?.mem_gib ?? '?')} GiB RAM · ${String(m?.kernel ?? '')}`,
      `Ceph ${String(m?.ceph ?? '?')} (1 mon, 1 memstore OSD, 1 mgr on the same machine) · Node ${String(m?.node ?? '?')}`,
    ],
    groups: GROUPS,
    series: series.filter((s) => s.values.some((v) => v !== undefined)),
    yLabel: 'milliseconds (log scale; lower is better)',
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const src = process.argv[2] ?? 'bench/results/latest.json';
  const dst = process.argv[3] ?? src.replace(/\.json$/, '.svg');
  writeFileSync(dst, renderSvg(chartFromResults(JSON.parse(readFileSync(src, 'utf8')))));
  console.log(`wrote ${dst}`);
}
