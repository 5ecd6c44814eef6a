// The Ceph CLIs (rbd, rados, ceph) with the admin key, for setting up and checking what tests do through
// the API. One runner for every test: async (rbdCli…) where the test awaits anyway, sync (rbdSync…) where a
// plain expression reads better; stderr is captured, so a failing command's error message carries it.
// The test cluster is the default target; cliOn(conf) aims the same runners at a cluster of a test's own.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { clusterDir } from './cluster.js';

const run = promisify(execFile);

export type Tool = 'rbd' | 'rados' | 'ceph';
export interface CliOptions {
  /** ceph.conf of the cluster (default: the test cluster's); the admin keyring is read beside it */
  conf?: string;
  /** ms before the command is killed (default 300 s) */
  timeout?: number;
  /** stdout limit in bytes (default 512 MiB) */
  maxBuffer?: number;
}

function argv(args: readonly string[], conf = `${clusterDir()}/ceph.conf`): string[] {
  return ['-c', conf, '--id', 'admin', '--keyring', join(dirname(conf), 'ceph.client.admin.keyring'), ...args];
}
const limits = (o: CliOptions) => ({ timeout: o.timeout ?? 300_000, maxBuffer: o.maxBuffer ?? 512 * 2 ** 20 });

/** `tool ...args` on the cluster; its stdout. Rejects with the command's stderr in the message. */
export async function cli(tool: Tool, args: readonly string[], o: CliOptions = {}): Promise<string> {
  const { stdout } = await run(tool, argv(args, o.conf), limits(o));
  return stdout;
}

/** cli() synchronously. */
export function cliSync(tool: Tool, args: readonly string[], o: CliOptions = {}): string {
  return execFileSync(tool, argv(args, o.conf), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...limits(o) });
}

/** cliSync's stdout as bytes (e.g. `rbd export <spec> -`). */
export function cliSyncBytes(tool: Tool, args: readonly string[], o: CliOptions = {}): Buffer {
  return execFileSync(tool, argv(args, o.conf), { stdio: ['ignore', 'pipe', 'pipe'], ...limits(o) });
}

export const rbdCli = (...args: string[]) => cli('rbd', args);
export const radosCli = (...args: string[]) => cli('rados', args);
export const cephCli = (...args: string[]) => cli('ceph', args);
export const rbdSync = (...args: string[]) => cliSync('rbd', args);
export const radosSync = (...args: string[]) => cliSync('rados', args);
export const cephSync = (...args: string[]) => cliSync('ceph', args);

/** The sync runners aimed at another cluster (its ceph.conf; admin keyring beside it). */
export function cliOn(conf: string, timeout?: number) {
  const o = { conf, ...(timeout ? { timeout } : {}) };
  return {
    rbd: (...args: string[]) => cliSync('rbd', args, o),
    rados: (...args: string[]) => cliSync('rados', args, o),
    ceph: (...args: string[]) => cliSync('ceph', args, o),
  };
}

/** Object names in a pool (all namespaces). */
export async function objectsOf(pool: string): Promise<string[]> {
  return (await radosCli('-p', pool, 'ls', '--all')).split('\n').map((l) => l.trim()).filter(Boolean);
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
