// src/ceph/cluster-info.ts without a cluster: the librbd probe's report, version parsing, and the 501 a route
// answers when it needs a feature this librbd lacks (src/http/errors.ts FEATURE_NOT_AVAILABLE).
import { describe, expect, it } from 'vitest';
import {
  clientLibraries, FeatureUnavailableError, hasFeature, OPTIONAL_FEATURE_NAMES, OPTIONAL_FEATURES, optionalFeatures, parseCephVersion, requireFeature,
} from '../../src/ceph/cluster-info.js';
import { rbdOptional } from '../../src/native/rbd-optional.js';
import { toApiError, toProblem } from '../../src/http/errors.js';

describe('cluster info', () => {
  it('reports the loaded librados/librbd versions and the Ceph release of librbd', () => {
    const libs = clientLibraries();
    expect(libs.librados.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(libs.librbd.version).toMatch(/^1\.(1[6-9]|20)\.\d+$/);
    const minor = Number(libs.librbd.version.split('.')[1]);
    expect(libs.librbd.release).toBe(['pacific', 'quincy', 'reef', 'squid', 'tentacle'][minor - 16]);
  });

  it('a feature is available exactly when every function it needs was bound', () => {
    for (const f of OPTIONAL_FEATURE_NAMES) {
      expect(hasFeature(f)).toBe(OPTIONAL_FEATURES[f].functions.every((fn) => rbdOptional[fn] !== undefined));
    }
    // librbd 1.16 (Ceph 16, this machine's) has none of them; 1.20 (Tentacle, the image's) has all
    const minor = Number(clientLibraries().librbd.version.split('.')[1]);
    if (minor === 16) expect(Object.values(optionalFeatures()).every((v) => !v)).toBe(true);
    if (minor === 20) expect(Object.values(optionalFeatures()).every((v) => v)).toBe(true);
    expect([16, 17, 18, 19, 20]).toContain(minor);
  });

  it('a missing feature becomes 501 FEATURE_NOT_AVAILABLE naming it and the librbd version', () => {
    const missing = OPTIONAL_FEATURE_NAMES.find((f) => !hasFeature(f));
    const err = new FeatureUnavailableError('mirrorRemoteNamespace', '1.16.0');
    const { api, unexpected } = toApiError(err);
    expect(unexpected).toBe(false);
    const problem = toProblem(api);
    expect(problem).toMatchObject({ status: 501, code: 'FEATURE_NOT_AVAILABLE', feature: 'mirrorRemoteNamespace' });
    expect(problem.detail).toBe('mirrorRemoteNamespace needs rbd_mirror_remote_namespace_get/set; librbd 20.2; this service runs librbd 1.16.0');
    if (missing) expect(() => requireFeature(missing)).toThrow(FeatureUnavailableError);
    for (const f of OPTIONAL_FEATURE_NAMES.filter(hasFeature)) expect(() => requireFeature(f)).not.toThrow();
  });

  it('parses what daemons report as their version', () => {
    expect(parseCephVersion('ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)', 3))
      .toEqual({ version: '16.2.15', release: 'pacific', daemons: 3, text: 'ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)' });
    expect(parseCephVersion('ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable)', 1))
      .toMatchObject({ version: '20.2.4', release: 'tentacle' });
    expect(parseCephVersion('something else', 1)).toMatchObject({ version: 'something else', release: undefined });
  });
});
