// The cleanup of a copy's hidden temporary (removeTemporary: what a failed, cancelled or interrupted copy
// runs), on states made by hand with the rbd and rados CLIs: a whole temporary with snapshots; one that a
// client still has open — it goes to the trash and stays there, never back under its name (librbd's
// rbd_remove restores an image it cannot remove into the directory, a directory entry reappearing after the
// cleanup looked), until a later pass; a directory entry whose image header is gone; a trash entry only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { removeTemporary, type CopyParams } from '../../src/ceph/copy.js';
import { Images } from '../../src/ceph/images.js';
import { isCephError } from '../../src/ceph/errors.js';
import { connect, makePool } from '../helpers/cluster.js';
import { cliSync } from '../helpers/cli.js';

let conn: CephConnection;
let holder: CephConnection;
let pool: { name: string; remove: () => Promise<void> };

const cli = (tool: 'rbd' | 'rados', ...args: string[]): string => cliSync(tool, args);
const rbd = (...args: string[]) => cli('rbd', ...args);
const listed = (): string[] => rbd('ls', pool.name).split('\n').filter(Boolean);
const inTrash = (): string[] => (JSON.parse(rbd('trash', 'ls', '--all', '--format', 'json', pool.name)) as { name: string }[]).map((e) => e.name);
const idObjects = (): string[] => cli('rados', '-p', pool.name, 'ls').split('\n').filter((o) => o.startsWith('rbd_id.'));
const params = (temporary: string): CopyParams => ({ destination: { pool: pool.name, namespace: '', name: 'dest' }, temporary, snapshots: true });
const nothingLeft = (name: string) => {
  expect(listed()).not.toContain(name);
  expect(inTrash()).not.toContain(name);
  expect(idObjects()).not.toContain(`rbd_id.${name}`);
};

beforeAll(async () => {
  conn = await connect('admin');
  holder = await connect('admin');
  pool = await makePool(conn, 'copyclean');
});
afterAll(async () => {
  await pool?.remove();
  await holder?.close();
  await conn?.close();
});

describe('removeTemporary', () => {
  it('removes a whole temporary with snapshots: no name, no id object, no trash entry', async () => {
    const name = '.rbdapi-copy-a1';
    rbd('create', '--size', '8M', `${pool.name}/${name}`);
    rbd('snap', 'create', `${pool.name}/${name}@s1`);
    rbd('snap', 'create', `${pool.name}/${name}@s2`);
    expect(await removeTemporary(conn, params(name))).toBe(true);
    nothingLeft(name);
    expect(await removeTemporary(conn, params(name))).toBe(false); // nothing to do
  });

  it('a temporary a client still has open goes to the trash, not back under its name; a later pass removes it', async () => {
    const name = '.rbdapi-copy-b1';
    rbd('create', '--size', '8M', `${pool.name}/${name}`);
    rbd('snap', 'create', `${pool.name}/${name}@s1`);
    const release = await new Images(holder).hold(pool.name, name);
    let failure: unknown;
    try {
      await removeTemporary(conn, params(name));
    } catch (e) {
      failure = e;
    } finally {
      await release();
    }
    expect(isCephError(failure, 'EBUSY'), String(failure)).toBe(true);
    expect(listed()).not.toContain(name);
    expect(idObjects()).not.toContain(`rbd_id.${name}`);
    expect(inTrash()).toEqual([name]);
    expect(await removeTemporary(conn, params(name))).toBe(true);
    nothingLeft(name);
  });

  it('a directory entry whose image header is gone (a runner died inside a create or a removal): entry and id object removed', async () => {
    const name = '.rbdapi-copy-c1';
    rbd('create', '--size', '8M', '--image-feature', 'layering', `${pool.name}/${name}`);
    const id = (JSON.parse(rbd('info', '--format', 'json', `${pool.name}/${name}`)) as { id: string }).id;
    cli('rados', '-p', pool.name, 'rm', `rbd_header.${id}`);
    expect(listed()).toContain(name);
    expect(await removeTemporary(conn, params(name))).toBe(true);
    nothingLeft(name);
  });

  it('a destination pool or namespace that no longer exists: nothing to do (the task can end)', async () => {
    expect(await removeTemporary(conn, { ...params('.rbdapi-copy-e1'), destination: { pool: `${pool.name}-gone`, namespace: '', name: 'dest' } })).toBe(false);
    expect(await removeTemporary(conn, { ...params('.rbdapi-copy-e1'), destination: { pool: pool.name, namespace: 'gone', name: 'dest' } })).toBe(false);
  });

  it('a trash entry under the temporary name only: removed', async () => {
    const name = '.rbdapi-copy-d1';
    rbd('create', '--size', '8M', `${pool.name}/${name}`);
    rbd('trash', 'mv', `${pool.name}/${name}`);
    expect(inTrash()).toEqual([name]);
    expect(await removeTemporary(conn, params(name))).toBe(true);
    nothingLeft(name);
  });
});
