// The Grafana dashboard of the monitoring overlay (k8s/overlays/monitoring/grafana-dashboard.json) queries
// only metrics the service exports: every metric name in its PromQL expressions is in GET /metrics of a
// running service (its sample lines, or for a labelled family without samples yet its # TYPE line).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';

const DASHBOARD = resolve(import.meta.dirname, '../../k8s/overlays/monitoring/grafana-dashboard.json');

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names of a PromQL expression: identifiers outside strings, label matchers `{…}`, ranges `[…]`
 * and grouping lists `by (…)`, that are not functions or aggregations (followed by "(") nor keywords.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = bare.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/\d$/.test(bare.slice(0, m.index))) continue; // a unit of a number, e.g. the "m" of 5m
    names.add(m[0]);
  }
  return [...names];
}

/** Every `expr` of the dashboard's panels (rows included) and of its templating queries. */
function dashboardExpressions(dash: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) { for (const x of v) visit(x); return; }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'expr' || k === 'definition') && typeof x === 'string') out.push(x.replace(/^label_values\((.*),[^,]*\)$/, '$1'));
      else visit(x);
    }
  };
  visit(dash);
  return out;
}

let t: TestApp;
let exposition: string;

beforeAll(async () => {
  t = await testApp('rbdapi');
  // some traffic first: requests by route and status, Ceph calls
  expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools' })).statusCode).toBe(200);
  expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools/no-such-pool-here' })).statusCode).toBe(404);
  const r = await t.app.inject({ method: 'GET', url: '/metrics' });
  expect(r.statusCode).toBe(200);
  exposition = r.body;
});
afterAll(async () => { await t?.close(); });

describe('the Grafana dashboard', () => {
  it('finds metric names in PromQL (and only those)', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job=~"$job",x="y(z)"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(b_count{s=~"5.."}[5m])) / sum without (pod) (c) > bool 0 and on (x) d offset 1h')).toEqual(['b_count', 'c', 'd']);
  });

  it('queries only metrics that GET /metrics exports', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown;
    const expressions = dashboardExpressions(dash);
    expect(expressions.length).toBeGreaterThan(20);
    const sampled = new Set([...exposition.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/gm)].map((m) => m[1]!));
    const families = new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const exported = (name: string): boolean => {
      if (sampled.has(name)) return true;
      const family = name.replace(/_(bucket|sum|count)$/, '');
      return families.has(name) || (family !== name && ['histogram', 'summary'].includes(families.get(family) ?? ''));
    };
    const used = [...new Set(expressions.flatMap(metricNames))].sort();
    expect(used.filter((n) => !exported(n)), `queried but not exported (of ${used.join(', ')})`).toEqual([]);
    // what the issue asks the dashboard to show
    for (const m of ['rbdapi_http_request_duration_seconds_count', 'rbdapi_http_request_duration_seconds_bucket',
      'rbdapi_ceph_call_duration_seconds_count', 'rbdapi_ceph_calls_queued', 'rbdapi_task_transitions_total', 'rbdapi_transfers_active']) {
      expect(used).toContain(m);
    }
    // the labels the panels group requests by are on the samples
    expect(exposition).toMatch(/^rbdapi_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/pools"[^}]*status="200"/m);
  });
});
