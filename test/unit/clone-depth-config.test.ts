// CLONE_DEPTH_SOFT / CLONE_DEPTH_HARD (issue 24 item 5): ceph-csi's defaults, its bounds (1–14), soft ≤ hard.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DEFAULT_CLONE_DEPTH } from '../../src/ceph/clone-chain.js';

describe('clone depth settings', () => {
  it('default to 4 / 8, as the client does without them', () => {
    const c = loadConfig({});
    expect([c.CLONE_DEPTH_SOFT, c.CLONE_DEPTH_HARD]).toEqual([4, 8]);
    expect(DEFAULT_CLONE_DEPTH).toEqual({ soft: 4, hard: 8 });
  });
  it('take 1–14 with soft ≤ hard; anything else names the variable', () => {
    expect(loadConfig({ CLONE_DEPTH_SOFT: '2', CLONE_DEPTH_HARD: '3' })).toMatchObject({ CLONE_DEPTH_SOFT: 2, CLONE_DEPTH_HARD: 3 });
    for (const [env, name] of [[{ CLONE_DEPTH_HARD: '15' }, 'CLONE_DEPTH_HARD'], [{ CLONE_DEPTH_SOFT: '0' }, 'CLONE_DEPTH_SOFT'],
      [{ CLONE_DEPTH_SOFT: '9' }, 'CLONE_DEPTH_SOFT'], [{ CLONE_DEPTH_SOFT: 'x' }, 'CLONE_DEPTH_SOFT']] as const) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(name);
    }
  });
});
