// The client as users get it: `npm pack` of client/ (its prepack builds ESM JavaScript and .d.ts), the tarball
// installed into a scratch project outside the repository (openapi-fetch comes from the npm cache or the
// registry, as the package's dependency), a console program (test/fixtures-client/consumer.ts) compiled there
// with tsc --strict and run against an in-process service on the shared cluster: typed creates answered as
// full images, pages iterated, a real task (image.copy) followed with waitForTask over the event stream with
// the Authorization header, a signal that stops the wait, and a 429 retried after its Retry-After.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { TokenStore } from '../../src/http/auth.js';
import { usePoolApp } from '../fixtures.js';
import { testApp, type TestApp } from '../helpers/app.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'client-package-token-0123456789abcdef';
const auth = TokenStore.parse(`${TOKEN} admin * console\n`);
const run = promisify(execFile);
const it = usePoolApp({ prefix: 'client-pkg', app: { auth }, token: TOKEN });

it('npm pack → install from the tarball → tsc --strict → a console program against the service', async ({ pool, app }) => {
  const scratch = mkdtempSync(join(tmpdir(), 'rbd-client-consumer-'));
  let limited: TestApp | undefined;
  try {
    // the package as published
    const packed = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: join(ROOT, 'client'), maxBuffer: 16 << 20 });
    const info = (JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; name: string; version: string; files: { path: string }[] }[])[0]!;
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect([info.name, info.version]).toEqual(['@rbd-rest-api/client', version]);
    const files = info.files.map((f) => f.path).sort();
    for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/schema.d.ts', 'dist/tasks.js', 'dist/retry.js', 'dist/pages.js']) expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]); // no sources, no tests

    // a scratch project that depends on the tarball only
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'console', private: true, type: 'module', dependencies: { '@rbd-rest-api/client': `file:./${info.filename}` } }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: scratch, maxBuffer: 16 << 20 });
    copyFileSync(join(ROOT, 'test/fixtures-client/consumer.ts'), join(scratch, 'consumer.ts'));
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [],
        strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, outDir: '.',
      },
      files: ['consumer.ts'],
    }));
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch })
      .then(() => '', (e: { stdout?: string }) => e.stdout ?? 'tsc failed');
    expect(tsc, 'the consumer compiles with tsc --strict against the installed package').toBe('');

    // the service: this file's app (authentication on), and a replica limited to 1 request/s for the retry
    await app.listen({ host: '127.0.0.1', port: 0 });
    limited = await testApp('admin', { auth, rateLimit: { perSecond: 1, burst: 1 } });
    await limited.app.listen({ host: '127.0.0.1', port: 0 });
    const url = (a: typeof app) => `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`;
    const out = await run(process.execPath, ['consumer.js'], {
      cwd: scratch, env: { PATH: process.env.PATH ?? '', RBD_URL: url(app), RBD_LIMITED_URL: url(limited.app), RBD_TOKEN: TOKEN, RBD_POOL: pool.name },
    }).catch((e: { stdout?: string; stderr?: string }) => { throw new Error(`consumer failed: ${e.stderr ?? ''}${e.stdout ?? ''}`); });
    const r = JSON.parse(out.stdout) as {
      created: [string, number, boolean][]; smallStatus: number; smallKeys: string[]; pages: string[][]; items: string[]; missing: string;
      task: { state: string; action: string; progress: number; seen: string[] }; copied: number | null; aborted: string; unknownTask: string;
      content: { up: [string, number, boolean]; down: [number, number, boolean]; part: [number, unknown, number, boolean]; badDigest: string };
      limited: [number, number, string | null, number]; retries: { attempt: number; status: number; retryAfter: boolean; delayMs: number }[]; waitedMs: number;
    };
    console.log('consumer:', JSON.stringify({ pages: r.pages, task: r.task, limited: r.limited, retries: r.retries, waitedMs: r.waitedMs }));

    // full images from the default client; {name, pool, size} from the one made with prefer: 'minimal'
    expect(r.created).toEqual(['cp-a', 'cp-b', 'cp-c', 'cp-d', 'cp-e'].map((n) => [n, 4 << 20, true]));
    expect([r.smallStatus, r.smallKeys]).toEqual([201, ['name', 'pool', 'size']]);
    // 6 images in pages of 2, in name order, none twice; then items across pages of 4
    expect(r.pages).toEqual([['cp-a', 'cp-b'], ['cp-c', 'cp-d'], ['cp-e', 'cp-min']]);
    expect(r.items).toEqual(['cp-a', 'cp-b', 'cp-c', 'cp-d', 'cp-e', 'cp-min'].map((n) => `${n}:${n === 'cp-min' ? 1 << 20 : 4 << 20}`));
    expect(r.missing).toBe('404 POOL_NOT_FOUND');
    // the copy task followed to its end over the event stream
    expect(r.task).toMatchObject({ state: 'succeeded', action: 'image.copy', progress: 1 });
    expect(r.task.seen.at(-1)).toBe('succeeded:1');
    expect(r.copied).toBe(4 << 20);
    expect(r.aborted).toBe('stopped by the console');
    expect(r.unknownTask).toBe('404 TASK_NOT_FOUND');
    // content through the streaming helpers: 3 MiB up with its digest, back whole and as a range; a wrong digest is refused
    expect(r.content).toEqual({
      up: ['cp-up', 3 << 20, true], down: [200, 3 << 20, true], part: [206, { start: 10, end: 19 }, 3 << 20, true], badDigest: '400 DIGEST_MISMATCH',
    });
    // 429 without retries; with them, one retry after the answer's Retry-After, then 200
    expect(r.limited).toEqual([200, 429, '1', 200]);
    expect(r.retries).toEqual([{ attempt: 1, status: 429, retryAfter: true, delayMs: 1000 }]);
    expect(r.waitedMs).toBeGreaterThanOrEqual(950);
  } finally {
    await limited?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}, 240_000);
