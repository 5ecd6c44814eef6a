// The rbd CLI against the test cluster (admin key), for writing and reading image data in tests.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterDir } from './cluster.js';

const run = promisify(execFile);

export async function rbdCli(...args: string[]): Promise<string> {
  const dir = clusterDir();
  const { stdout } = await run('rbd', ['-c', `${dir}/ceph.conf`, '--id', 'admin', '--keyring', `${dir}/ceph.client.admin.keyring`, ...args],
    { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

export async function radosCli(...args: string[]): Promise<string> {
  const dir = clusterDir();
  const { stdout } = await run('rados', ['-c', `${dir}/ceph.conf`, '--id', 'admin', '--keyring', `${dir}/ceph.client.admin.keyring`, ...args],
    { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

/**
 * A new image `spec/image` holding `bytes` random bytes (rbd import of a random file); returns the bytes.
 * `objectSize` (e.g. "16K"): small objects make whole-image operations (rollback, flatten) take longer.
 */
export async function importRandom(spec: string, image: string, bytes: number, objectSize?: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-pattern-'));
  try {
    const data = randomBytes(bytes);
    writeFileSync(join(dir, 'data'), data);
    await rbdCli('import', '--no-progress', ...(objectSize ? ['--object-size', objectSize] : []), join(dir, 'data'), `${spec}/${image}`);
    return data;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Overwrite `bytes` of an existing image at random 4 KiB offsets (rbd bench --io-pattern rand). */
export async function overwrite(spec: string, image: string, bytes: number): Promise<void> {
  await rbdCli('bench', '--io-type', 'write', '--io-pattern', 'rand', '--io-size', '4096', '--io-total', String(bytes),
    '--io-threads', '4', `${spec}/${image}`);
}

/** The whole image (or snapshot: `image@snap`) as exported by rbd export. */
export async function exportImage(spec: string, image: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-export-'));
  try {
    await rbdCli('export', '--no-progress', `${spec}/${image}`, join(dir, 'out'));
    return readFileSync(join(dir, 'out'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
