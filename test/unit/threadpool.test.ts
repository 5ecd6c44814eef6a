// src/threadpool.cts, the image's (and `npm start`'s) preload: libuv's threadpool sized from CEPH_CONCURRENCY +
// CEPH_LONG_CONCURRENCY before the ES module loader first uses it. Measured in a child process with an ES module
// entry, the way dist/main.js runs: 16 blocking native calls of 300 ms at once (koffi .async on the pool) take
// one round with the preload and at least four without it (libuv's default of 4 threads).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const PRELOAD = join(ROOT, 'src/threadpool.cts');
const dir = mkdtempSync(join(tmpdir(), 'threadpool-test-'));
const entry = join(dir, 'entry.mjs');
// the preload as the image runs it: plain CommonJS, required alone (through tsx, tsx's own loader may use the
// pool first — in CI it did, and the pool stayed at 4 threads)
const preload = join(dir, 'threadpool.cjs');
writeFileSync(preload, ts.transpileModule(readFileSync(PRELOAD, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText);
writeFileSync(entry, [
  `import koffi from ${JSON.stringify(join(ROOT, 'node_modules/koffi/index.js'))};`,
  "const usleep = koffi.load('libc.so.6').func('int usleep(uint32_t usec)');",
  'const t0 = Date.now();',
  'await Promise.all(Array.from({ length: 16 }, () => new Promise((r) => usleep.async(300000, r))));',
  'console.log(JSON.stringify({ size: process.env.UV_THREADPOOL_SIZE ?? null, ms: Date.now() - t0 }));',
].join('\n'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = async (env: Record<string, string>, withPreload: boolean): Promise<{ size: string | null; ms: number }> => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['UV_THREADPOOL_SIZE', 'CEPH_CONCURRENCY', 'CEPH_LONG_CONCURRENCY'].includes(k)));
  const args = withPreload ? ['--require', preload, entry] : [entry];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, env: { ...base, ...env } });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { size: string | null; ms: number };
};

describe('threadpool preload (src/threadpool.cts)', () => {
  it('sizes the pool from the defaults (16 + 2 + 2 + 2 = 22) and 16 calls run at once; without it they queue on 4 threads', async () => {
    const withPreload = await run({}, true);
    expect(withPreload.size).toBe('22');
    const without = await run({}, false);
    expect(without.size).toBeNull();
    expect(without.ms).toBeGreaterThanOrEqual(1190); // four rounds of 300 ms
    // one round with the preload: well under half the time (not an absolute bound: the unit tests run beside the
    // API tests, and thread start-up on a loaded machine can add hundreds of ms)
    expect(withPreload.ms).toBeLessThan(without.ms / 2);
  }, 30_000);

  it('follows CEPH_CONCURRENCY and CEPH_LONG_CONCURRENCY, and leaves an explicit UV_THREADPOOL_SIZE alone', async () => {
    expect((await run({ CEPH_CONCURRENCY: '40', CEPH_LONG_CONCURRENCY: '4' }, true)).size).toBe('48');
    expect((await run({ CEPH_CONCURRENCY: 'nonsense' }, true)).size).toBe('22');
    expect((await run({ UV_THREADPOOL_SIZE: '7' }, true)).size).toBe('7');
  }, 30_000);
});
