// Planning runtime feature changes (pure): what librbd 16 can switch, in which order, and why not.
import { describe, expect, it } from 'vitest';
import { featureBits } from '../../src/ceph/features.js';
import { FeatureChangeError } from '../../src/ceph/errors.js';
import { planFeatureChange } from '../../src/ceph/image-features.js';
import { configValueProblem, inferConfigType } from '../../src/ceph/image-config.js';

const DEFAULT = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'];
const plan = (from: string[], to: string[]) => planFeatureChange(featureBits(from), to);
const reason = (from: string[], to: string[]): string => {
  try {
    plan(from, to);
  } catch (e) {
    if (e instanceof FeatureChangeError) return e.reason;
    throw e;
  }
  return 'allowed';
};

describe('planFeatureChange', () => {
  it('nothing to do for the current set, whatever the order', () => {
    expect(plan(DEFAULT, [...DEFAULT].reverse())).toEqual({ enable: [], disable: [] });
  });

  it('disables dependents first and enables prerequisites first', () => {
    expect(plan(DEFAULT, ['layering', 'deep-flatten'])).toEqual({ enable: [], disable: ['fast-diff', 'object-map', 'exclusive-lock'] });
    expect(plan(['layering'], ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'journaling']))
      .toEqual({ enable: ['exclusive-lock', 'journaling', 'object-map', 'fast-diff'], disable: [] });
    expect(plan(DEFAULT, ['layering', 'exclusive-lock', 'object-map', 'fast-diff'])).toEqual({ enable: [], disable: ['deep-flatten'] });
  });

  it('refuses what librbd cannot change at runtime, with the reason', () => {
    expect(reason(DEFAULT, DEFAULT.filter((f) => f !== 'layering'))).toMatch(/layering is chosen when an image is created/);
    expect(reason(DEFAULT, [...DEFAULT, 'striping'])).toMatch(/striping/);
    expect(reason(DEFAULT, [...DEFAULT, 'data-pool'])).toMatch(/data-pool/);
    expect(reason(['layering'], ['layering', 'deep-flatten'])).toMatch(/deep-flatten can only be disabled/);
    expect(reason(DEFAULT, [...DEFAULT, 'operations'])).toMatch(/managed by librbd/);
    expect(reason(DEFAULT, ['layering', 'object-map', 'fast-diff'])).toMatch(/object-map needs exclusive-lock/);
    expect(reason(['layering'], ['layering', 'journaling'])).toMatch(/journaling needs exclusive-lock/);
    expect(reason(DEFAULT, ['layering', 'exclusive-lock', 'fast-diff'])).toMatch(/fast-diff needs object-map/);
    expect(reason(DEFAULT, ['layering', 'exclusive-lock', 'object-map'])).toMatch(/switched together/);
    expect(reason(['layering', 'exclusive-lock'], ['layering', 'exclusive-lock', 'object-map'])).toMatch(/switched together/);
    expect(reason(DEFAULT, [...DEFAULT, 'bogus'])).toMatch(/not an RBD feature/);
  });

  it('an image made with object-map but without fast-diff may keep that state', () => {
    expect(plan(['layering', 'exclusive-lock', 'object-map'], ['layering', 'exclusive-lock', 'object-map', 'journaling']))
      .toEqual({ enable: ['journaling'], disable: [] });
  });
});

describe('conf_ value types', () => {
  it('infers the type from the value in effect', () => {
    expect(inferConfigType('true')).toBe('boolean');
    expect(inferConfigType('0')).toBe('integer');
    expect(inferConfigType('1.000000')).toBe('number');
    expect(inferConfigType('writearound')).toBe('string');
    expect(inferConfigType('')).toBe('string');
  });

  it('checks values against it', () => {
    expect(configValueProblem('integer', '100')).toBeUndefined();
    expect(configValueProblem('integer', '-5')).toBeDefined();
    expect(configValueProblem('integer', '1.5')).toBeDefined();
    expect(configValueProblem('integer', '99999999999999999999')).toBeDefined();
    expect(configValueProblem('boolean', 'false')).toBeUndefined();
    expect(configValueProblem('boolean', 'yes')).toBeDefined();
    expect(configValueProblem('number', '2')).toBeUndefined();
    expect(configValueProblem('number', '2.5')).toBeUndefined();
    expect(configValueProblem('number', 'soon')).toBeDefined();
    expect(configValueProblem('string', 'x'.repeat(5000))).toBeDefined();
  });
});
