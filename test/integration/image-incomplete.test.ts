// IMAGE_INCOMPLETE says what is really wrong with a name: each leftover state an interrupted create, delete,
// rename or restore can leave is built with the rados CLI (directory entry, id object, header), and GET/POST
// of the name must name the object that is missing or disagrees — never "listed" for a name the directory does
// not list (the second probe, N3: a stray rbd_id.<name> of a double restore was called "listed"). Afterwards
// DELETE or PUT clear the name, and the image a stray id object points at is never touched (PUT deleted it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { radosSync, rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'incomplete', key: 'rbdapi-pools' });
let t: TestApp;
let pool: TestPool;
const dir = mkdtempSync(join(tmpdir(), 'incomplete-'));

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

const rados = (...args: string[]) => radosSync('-p', pool.name, ...args);
const idOf = (name: string) => rados('get', `rbd_id.${name}`, '-').slice(4).trim();
const listed = (name: string) => rbd('ls', pool.name).split('\n').includes(name);
const objects = () => rados('ls').split('\n');
/** rbd_id.<to> := rbd_id.<from> (what a restore or rename cut short leaves: two id objects naming one image) */
const copyIdObject = (from: string, to: string) => {
  const file = join(dir, `${from}.id`);
  rados('get', `rbd_id.${from}`, file);
  rados('put', `rbd_id.${to}`, file);
};
const base = () => `/api/v1/pools/${pool.name}/images`;
const unique = (p: string) => `${p}-${Date.now().toString(36)}`;

async function expectIncomplete(name: string, says: RegExp, fields: Record<string, string>, methods: ('GET' | 'POST')[] = ['GET', 'POST']) {
  for (const method of methods) {
    const r = method === 'GET' ? await t.app.inject({ method: 'GET', url: `${base()}/${name}` })
      : await t.app.inject({ method: 'POST', url: base(), ...json({ name, size: '1MiB' }) });
    expect(r.statusCode, `${method} ${name}: ${r.body}`).toBe(409);
    const p = r.json();
    expect(p.code).toBe('IMAGE_INCOMPLETE');
    expect(p.detail, method).toMatch(says);
    expect(p).toMatchObject({ image: name, ...fields });
  }
}

describe('IMAGE_INCOMPLETE names what is wrong', () => {
  it('listed, id object missing (a create or delete cut short)', async () => {
    const name = unique('noid');
    rbd('create', '--size', '1M', `${pool.name}/${name}`);
    const id = idOf(name);
    rados('rm', `rbd_id.${name}`);
    await expectIncomplete(name, new RegExp(`is listed in the pool's directory \\(image id ${id}\\), but its id object rbd_id\\.${name} is missing`), { listedId: id });
    expect((await t.app.inject({ method: 'PUT', url: `${base()}/${name}`, ...json({ size: '1MiB' }) })).statusCode).toBe(201);
    expect(listed(name)).toBe(true);
  });

  it('listed and id object present, header missing', async () => {
    const name = unique('nohdr');
    rbd('create', '--size', '1M', `${pool.name}/${name}`);
    const id = idOf(name);
    rados('rm', `rbd_header.${id}`);
    await expectIncomplete(name, new RegExp(`has its id object \\(image id ${id}\\), but the image header rbd_header\\.${id} is missing`),
      { listedId: id, idObject: id });
    expect((await t.app.inject({ method: 'DELETE', url: `${base()}/${name}` })).statusCode).toBe(204);
    expect(listed(name)).toBe(false);
  });

  it('listed as one image, its id object naming another (GET says so too, instead of "does not exist")', async () => {
    const name = unique('mixed');
    const other = unique('mixedo');
    rbd('create', '--size', '1M', `${pool.name}/${name}`);
    rbd('create', '--size', '2M', `${pool.name}/${other}`);
    const [id, otherId] = [idOf(name), idOf(other)];
    copyIdObject(other, name);
    await expectIncomplete(name, new RegExp(`is listed in the pool's directory as image id ${id}, but its id object rbd_id\\.${name} names image id ${otherId}`),
      { listedId: id, idObject: otherId });
    // the other image is untouched by all this
    expect(JSON.parse(rbd('info', '--format', 'json', `${pool.name}/${other}`))).toMatchObject({ id: otherId, size: 2 * 1024 * 1024 });
  });

  it('not listed, a stray id object naming another, whole image (a double restore, N3): never called "listed"', async () => {
    const owner = unique('owner');
    const stray = unique('stray');
    rbd('create', '--size', '3M', `${pool.name}/${owner}`);
    const ownerId = idOf(owner);
    copyIdObject(owner, stray);
    expect(listed(stray)).toBe(false);
    await expectIncomplete(stray, new RegExp(`is not listed in the pool's directory, but a stray id object rbd_id\\.${stray} \\(naming image id ${ownerId}\\) remains`),
      { idObject: ownerId }, ['POST']);
    const post = await t.app.inject({ method: 'POST', url: base(), ...json({ name: stray, size: '1MiB' }) });
    expect(post.json().detail).not.toMatch(/is listed/);
    expect(post.json().listedId).toBeUndefined();
    // GET: the name does not exist (librbd would open the owner's image through the stray object)
    const get = await t.app.inject({ method: 'GET', url: `${base()}/${stray}` });
    expect(get.statusCode, get.body).toBe(404);
    // DELETE removes the stray object only: the owner's image stays whole
    expect((await t.app.inject({ method: 'DELETE', url: `${base()}/${stray}` })).statusCode).toBe(204);
    expect(objects()).not.toContain(`rbd_id.${stray}`);
    expect(JSON.parse(rbd('info', '--format', 'json', `${pool.name}/${owner}`))).toMatchObject({ id: ownerId, size: 3 * 1024 * 1024 });
  });

  it('PUT or DELETE of a name whose id object names another image never touches that image', async () => {
    const problems: string[] = [];
    for (const [method, state] of [['PUT', 'stray'], ['DELETE', 'stray'], ['PUT', 'mixed'], ['DELETE', 'mixed']] as const) {
      const owner = unique(`own${method[0]}${state[0]}`);
      const name = unique(`nm${method[0]}${state[0]}`);
      rbd('create', '--size', '3M', `${pool.name}/${owner}`);
      const ownerId = idOf(owner);
      if (state === 'mixed') rbd('create', '--size', '1M', `${pool.name}/${name}`);
      copyIdObject(owner, name);
      const r = method === 'PUT' ? await t.app.inject({ method: 'PUT', url: `${base()}/${name}`, ...json({ size: '1MiB' }) })
        : await t.app.inject({ method: 'DELETE', url: `${base()}/${name}` });
      let info = '';
      try { info = rbd('info', '--format', 'json', `${pool.name}/${owner}`); } catch (e) { info = `rbd info failed: ${String(e).slice(0, 200)}`; }
      const ok = info.startsWith('{') && JSON.parse(info).id === ownerId && listed(owner);
      const expected = method === 'PUT' ? 201 : 204;
      if (r.statusCode !== expected) problems.push(`${method} of a ${state} name: ${r.statusCode} ${r.body.slice(0, 200)}`);
      if (method === 'PUT' && !(listed(name) && idOf(name) !== ownerId)) problems.push(`PUT of a ${state} name: not a new image of its own`);
      if (!ok) problems.push(`${method} of a ${state} name (${r.statusCode} ${r.body.slice(0, 160)}): the owner ${owner} is gone: ${info.slice(0, 160)}; trash: ${rbd('trash', 'ls', '--all', pool.name).trim()}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);
});
