// PATCH /images/{image}: rename, resize and runtime feature changes, checked with the rbd CLI.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { radosSync, rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'patch', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;
const MiB = 1024 * 1024;

interface RbdInfo { name: string; size: number; features: string[]; flags: string[] }
const info = (name: string, ns?: string): RbdInfo =>
  JSON.parse(rbd('info', '--format', 'json', ...(ns ? ['--namespace', ns] : []), `${pool.name}/${name}`)) as RbdInfo;
const create = async (name: string, extra: Record<string, unknown> = {}, url = base) => {
  const r = await t.app.inject({ method: 'POST', url, ...json({ name, size: '64MiB', ...extra }) });
  expect(r.statusCode, r.body).toBe(201);
};
const patch = (name: string, body: unknown, url = base) => t.app.inject({ method: 'PATCH', url: `${url}/${name}`, ...json(body) });

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}/images`;
});

describe('rename', () => {
  it('200 with Location of the new name; the old name is then 404; rbd sees the new name with the same id', async () => {
    await create('old');
    const before = (await t.app.inject({ method: 'GET', url: `${base}/old` })).json();
    const r = await patch('old', { name: 'new' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers.location).toBe(`${base}/new`);
    expect(r.json()).toMatchObject({ name: 'new', id: before.id, applied: { renamed: { from: 'old', to: 'new' } } });
    expect((await t.app.inject({ method: 'GET', url: `${base}/old` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `${base}/new` })).json().id).toBe(before.id);
    expect(rbd('ls', pool.name).trim().split('\n')).toEqual(['new']);
    expect(info('new').name).toBe('new');
  });

  it('409 IMAGE_EXISTS when the name is taken, and nothing else in the PATCH is applied', async () => {
    await create('a1');
    await create('b1');
    const r = await patch('a1', { name: 'b1', size: '128MiB' });
    expect(r.statusCode).toBe(409);
    expect(r.json().code).toBe('IMAGE_EXISTS');
    expect(info('a1').size).toBe(64 * MiB);
    expect(info('b1').size).toBe(64 * MiB);
  });

  it('400 for names the API does not create (hidden, /, @, empty) and the image keeps its name', async () => {
    for (const name of ['.hidden', 'a/b', 'a@b', '', ' x', 'x'.repeat(129)]) {
      const r = await patch('a1', { name });
      expect(r.statusCode, name).toBe(400);
    }
    expect(rbd('ls', pool.name).trim().split('\n').sort()).toEqual(['a1', 'b1', 'new']);
  });

  it('renaming to the same name is a no-op; a missing image is 404', async () => {
    const same = await patch('a1', { name: 'a1' });
    expect(same.statusCode).toBe(200);
    expect(same.json().applied).toEqual({ featuresEnabled: [], featuresDisabled: [], objectMapRebuilt: false });
    expect((await patch('nope', { name: 'x1' })).statusCode).toBe(404);
  });

  // librbd renames in steps: write rbd_id.<new>, move the directory entry, remove rbd_id.<old>. The states a
  // process killed between them leaves are made here with the rados CLI (manage-kill hits them by chance)
  const rados = (...args: string[]): string => radosSync('-p', pool.name, ...args);
  const idObjects = (): string[] => rados('ls').split('\n').filter((o) => o.startsWith('rbd_id.')).sort();

  it('a rename killed after the directory moved (old id object left): the retry finishes it, 200; the old name then 404', async () => {
    await create('k-old', { size: '8MiB' });
    const id = (await t.app.inject({ method: 'GET', url: `${base}/k-old` })).json().id as string;
    rbd('rename', `${pool.name}/k-old`, `${pool.name}/k-new`);
    rados('cp', 'rbd_id.k-new', 'rbd_id.k-old'); // the id object the dead process did not remove
    expect(rbd('info', '--format', 'json', `${pool.name}/k-old`)).toContain(id); // librbd opens it by that object
    const stray = await t.app.inject({ method: 'GET', url: `${base}/k-old` }); // the directory does not list it
    expect(stray.statusCode, stray.body).toBe(404);
    expect(stray.json().code).toBe('IMAGE_NOT_FOUND');
    const r = await patch('k-old', { name: 'k-new', size: '16MiB' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers.location).toBe(`${base}/k-new`);
    expect(r.json()).toMatchObject({ name: 'k-new', id, size: 16 * MiB, applied: { renamed: { from: 'k-old', to: 'k-new' }, resized: { to: 16 * MiB } } });
    expect((await t.app.inject({ method: 'GET', url: `${base}/k-old` })).statusCode).toBe(404);
    expect(idObjects()).not.toContain('rbd_id.k-old');
    expect(idObjects()).toContain('rbd_id.k-new');
    expect(info('k-new').size).toBe(16 * MiB);
  });

  it('DELETE of the old name a killed rename left (a stray id object) removes only that object: 204, the image stays under its new name', async () => {
    await create('d-old', { size: '8MiB' });
    const id = (await t.app.inject({ method: 'GET', url: `${base}/d-old` })).json().id as string;
    rbd('rename', `${pool.name}/d-old`, `${pool.name}/d-new`);
    rados('cp', 'rbd_id.d-new', 'rbd_id.d-old');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/d-old` });
    expect(r.statusCode, r.body).toBe(204);
    expect(idObjects()).not.toContain('rbd_id.d-old');
    expect(info('d-new').name).toBe('d-new'); // not moved to the trash, not removed
    expect(rbd('trash', 'ls', pool.name)).not.toContain(id);
    expect((await t.app.inject({ method: 'GET', url: `${base}/d-new` })).json().id).toBe(id);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/d-old` })).statusCode).toBe(404);
  });

  it('a rename killed before the directory moved (new id object written): the retry undoes that and renames, 200', async () => {
    await create('j-old', { size: '8MiB' });
    const id = (await t.app.inject({ method: 'GET', url: `${base}/j-old` })).json().id as string;
    rados('cp', 'rbd_id.j-old', 'rbd_id.j-new');
    expect((await t.app.inject({ method: 'GET', url: `${base}/j-new` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `${base}/j-old` })).json().id).toBe(id);
    const r = await patch('j-old', { name: 'j-new' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ name: 'j-new', id, applied: { renamed: { from: 'j-old', to: 'j-new' } } });
    expect(rbd('ls', pool.name).split('\n')).toContain('j-new');
    expect(rbd('ls', pool.name).split('\n')).not.toContain('j-old');
    expect(idObjects()).not.toContain('rbd_id.j-old');
    expect(info('j-new').name).toBe('j-new');
  });

  it('an id object of the target name that holds another image is not a half-done rename: 409 IMAGE_EXISTS, nothing removed', async () => {
    await create('h-a', { size: '8MiB' });
    await create('h-b', { size: '8MiB' });
    const r = await patch('h-a', { name: 'h-b' });
    expect(r.statusCode, r.body).toBe(409);
    expect(r.json().code).toBe('IMAGE_EXISTS');
    expect(idObjects()).toEqual(expect.arrayContaining(['rbd_id.h-a', 'rbd_id.h-b']));
  });

  it('works in a namespace', async () => {
    rbd('namespace', 'create', `${pool.name}/tenant`);
    const nsBase = `/api/v1/pools/${pool.name}/namespaces/tenant/images`;
    await create('n1', {}, nsBase);
    const r = await patch('n1', { name: 'n2' }, nsBase);
    expect(r.statusCode).toBe(200);
    expect(r.headers.location).toBe(`${nsBase}/n2`);
    expect(rbd('ls', '--namespace', 'tenant', pool.name).trim()).toBe('n2');
  });
});

describe('features', () => {
  it('disables object-map and fast-diff, then enables them again with the object map rebuilt (rbd info)', async () => {
    await create('f1');
    const start = info('f1').features;
    expect(start).toEqual(expect.arrayContaining(['exclusive-lock', 'object-map', 'fast-diff']));
    const off = await patch('f1', { features: start.filter((f) => f !== 'object-map' && f !== 'fast-diff') });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json().applied.featuresDisabled).toEqual(['fast-diff', 'object-map']);
    expect(info('f1').features).not.toContain('object-map');
    expect(info('f1').features).not.toContain('fast-diff');
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '1M', `${pool.name}/f1`);
    const on = await patch('f1', { features: start });
    expect(on.statusCode, on.body).toBe(200);
    expect(on.json().applied).toMatchObject({ featuresEnabled: ['object-map', 'fast-diff'], objectMapRebuilt: true });
    expect(on.json().features.sort()).toEqual([...start].sort());
    const after = info('f1');
    expect(after.features.sort()).toEqual([...start].sort());
    expect(after.flags).toEqual([]);
  });

  it('journaling on and off; deep-flatten off; asking for the current set changes nothing', async () => {
    const start = info('f1').features;
    const j = await patch('f1', { features: [...start, 'journaling'] });
    expect(j.statusCode, j.body).toBe(200);
    expect(info('f1').features).toContain('journaling');
    const same = await patch('f1', { features: [...start, 'journaling'] });
    expect(same.json().applied).toMatchObject({ featuresEnabled: [], featuresDisabled: [] });
    const noDeep = start.filter((f) => f !== 'deep-flatten');
    const d = await patch('f1', { features: noDeep });
    expect(d.statusCode, d.body).toBe(200);
    expect(d.json().applied.featuresDisabled.sort()).toEqual(['deep-flatten', 'journaling']);
    expect(info('f1').features.sort()).toEqual([...noDeep].sort());
  });

  it('impossible changes are 400 FEATURE_NOT_CHANGEABLE with the reason, and nothing changes', async () => {
    const now = info('f1').features;
    const cases: [string[], RegExp][] = [
      [now.filter((f) => f !== 'layering'), /layering/],
      [[...now, 'striping'], /striping/],
      [[...now, 'data-pool'], /data-pool/],
      [[...now, 'deep-flatten'], /deep-flatten/],
      [now.filter((f) => f !== 'object-map'), /fast-diff needs object-map/],
      [now.filter((f) => f !== 'exclusive-lock'), /needs exclusive-lock/],
      [now.filter((f) => f !== 'fast-diff'), /switched together/],
      [[...now, 'operations'], /operations/],
    ];
    for (const [features, reason] of cases) {
      const r = await patch('f1', { features, name: 'renamed-f1', size: '128MiB' });
      expect(r.statusCode, JSON.stringify(features)).toBe(400);
      expect(r.json().code).toBe('FEATURE_NOT_CHANGEABLE');
      expect(r.json().detail).toMatch(reason);
    }
    const after = info('f1');
    expect(after.features.sort()).toEqual([...now].sort());
    expect(after.size).toBe(64 * MiB);
    expect((await patch('f1', { features: ['no-such-feature'] })).statusCode).toBe(400);
    expect((await patch('f1', { features: ['layering', 'layering'] })).statusCode).toBe(400);
  });

  it('exclusive-lock off together with what depends on it works, in dependency order', async () => {
    const r = await patch('f1', { features: ['layering'] });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().applied.featuresDisabled).toEqual(['fast-diff', 'object-map', 'exclusive-lock']);
    expect(info('f1').features).toEqual(['layering']);
    const back = await patch('f1', { features: ['layering', 'exclusive-lock', 'object-map', 'fast-diff'] });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json().applied.featuresEnabled).toEqual(['exclusive-lock', 'object-map', 'fast-diff']);
    expect(info('f1').flags).toEqual([]);
  });
});

describe('object map rebuild of a big image', () => {
  it('switching object-map on for an image of more than 8192 objects answers 202 with the rebuild task', async () => {
    await create('big', { size: '64GiB' });
    rbd('feature', 'disable', `${pool.name}/big`, 'object-map', 'fast-diff');
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '1M', '--io-pattern', 'rand', `${pool.name}/big`);
    const features = info('big').features;
    const r = await patch('big', { features: [...features, 'object-map', 'fast-diff'] });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({ action: 'image.object-map-rebuild', target: { image: 'big' },
      applied: { featuresEnabled: ['object-map', 'fast-diff'], objectMapRebuilt: false } });
    expect(info('big').flags).toContain('object map invalid');
    let task = r.json();
    for (let i = 0; i < 1200 && !['succeeded', 'failed', 'cancelled'].includes(task.state); i++) {
      await new Promise((res) => setTimeout(res, 100));
      task = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` })).json();
    }
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(info('big').flags).toEqual([]);
  }, 180_000);
});

describe('combined PATCH and resize', () => {
  it('name + size + features in one request: all applied, the answer says so', async () => {
    await create('c1');
    const features = info('c1').features.filter((f) => f !== 'deep-flatten');
    const r = await patch('c1', { name: 'c2', size: '256MiB', features });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers.location).toBe(`${base}/c2`);
    expect(r.json()).toMatchObject({
      name: 'c2', size: 256 * MiB,
      applied: { renamed: { from: 'c1', to: 'c2' }, resized: { from: 64 * MiB, to: 256 * MiB }, featuresDisabled: ['deep-flatten'] },
    });
    const i = info('c2');
    expect(i.size).toBe(256 * MiB);
    expect(i.features).not.toContain('deep-flatten');
  });

  it('shrinking needs allowShrink (409 SHRINK_NOT_ALLOWED, nothing renamed), then works', async () => {
    const refused = await patch('c2', { size: '128MiB', name: 'c3' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('SHRINK_NOT_ALLOWED');
    expect(info('c2').size).toBe(256 * MiB);
    const ok = await patch('c2', { size: '128MiB', allowShrink: true });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(info('c2').size).toBe(128 * MiB);
  });

  it('shrinking an image without object-map is the image.shrink task (202); a rename in the same PATCH is done first', async () => {
    await create('s1', { size: '256MiB', features: ['layering'] });
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '2M', '--io-pattern', 'rand', `${pool.name}/s1`);
    const r = await patch('s1', { size: '64MiB', allowShrink: true, name: 's2' });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.location).toBe(`/api/v1/tasks/${r.json().id}`);
    expect(r.json()).toMatchObject({ action: 'image.shrink', target: { image: 's2' }, applied: { renamed: { from: 's1', to: 's2' } } });
    let task = r.json();
    for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(task.state); i++) {
      await new Promise((res) => setTimeout(res, 100));
      task = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` })).json();
    }
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(info('s2').size).toBe(64 * MiB);
    // with an object map the shrink is answered at once
    await create('s3', { size: '256MiB' });
    const quick = await patch('s3', { size: '64MiB', allowShrink: true });
    expect(quick.statusCode).toBe(200);
    expect(quick.json().applied.resized).toEqual({ from: 256 * MiB, to: 64 * MiB });
  });

  it('an empty PATCH or unknown fields are 400', async () => {
    expect((await patch('c2', {})).statusCode).toBe(400);
    expect((await patch('c2', { allowShrink: true })).statusCode).toBe(400);
    expect((await patch('c2', { colour: 'red' })).statusCode).toBe(400);
  });
});
