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
