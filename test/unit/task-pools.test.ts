// TASK_POOLS: the pools whose task lists a replica scans and whose schedules it runs (names, `*` any run of
// characters; default every pool). The matcher is the one the scan and the schedule loop use.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { poolMatcher } from '../../src/ceph/tasks/pool-lookup.js';
import { DEFAULT_TASK_OPTIONS } from '../../src/ceph/tasks/types.js';

describe('TASK_POOLS', () => {
  it('defaults to every pool, as the engine does without it', () => {
    expect(loadConfig({}).TASK_POOLS).toEqual(['*']);
    expect(DEFAULT_TASK_OPTIONS.pools).toEqual(['*']);
    expect(poolMatcher(['*'])('any.pool/with*stars')).toBe(true);
  });
  it('takes comma-separated names and patterns; an empty item names the variable', () => {
    expect(loadConfig({ TASK_POOLS: ' tenant-a-*, shared ' }).TASK_POOLS).toEqual(['tenant-a-*', 'shared']);
    expect(loadConfig({ TASK_POOLS: '' }).TASK_POOLS).toEqual(['*']); // empty = unset, as every variable
    for (const v of ['a,,b', ' , ', 'a,']) {
      expect(() => loadConfig({ TASK_POOLS: v }), JSON.stringify(v)).toThrow(ConfigError);
      expect(() => loadConfig({ TASK_POOLS: v })).toThrow('TASK_POOLS');
    }
  });
  it('matches whole names; * is any run of characters and every other character is itself', () => {
    const m = poolMatcher(['tenant-a-*', 'shared', '*-x1y2', 'a.b', '(c)+']);
    for (const yes of ['tenant-a-', 'tenant-a-vol', 'shared', 'pool-1-x1y2', 'a.b', '(c)+']) expect(m(yes), yes).toBe(true);
    for (const no of ['tenant-b-vol', 'xtenant-a-1', 'shared2', 'sharedx', 'x1y2', 'pool-x1y2-', 'axb', 'c', 'cc']) expect(m(no), no).toBe(false);
  });
});
