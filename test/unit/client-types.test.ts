// The typed client as a console would use it: a snippet compiled with tsc in strict mode (plus
// noUncheckedIndexedAccess and exactOptionalPropertyTypes) must pass, and each planted mistake must be an
// error at the line it is on — so the generated types really check paths, parameters, bodies and answers.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, '.build/client-types');

const GOOD = `import { createRbdClient, type Image, type Problem } from '../../client/index.js';
const rbd = createRbdClient('http://127.0.0.1:8080', 'token');
export async function console1(pool: string): Promise<string[]> {
  const put = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool, image: 'vol1' } }, body: { size: '10GiB', features: ['layering'] } });
  if (put.error) { const p: Problem = put.error; throw new Error(\`\${put.response.status} \${p.code}: \${p.detail}\`); }
  const size: number = put.data.size;
  const full: Image = put.data; // no Prefer: the full image, not Image | ImageCreated
  for await (const page of rbd.pages('/api/v1/pools/{pool}/images', { params: { path: { pool }, query: { limit: 2 } } })) void page.items[0]?.name;
  for await (const snap of rbd.items('/api/v1/pools/{pool}/images/{image}/snapshots', { params: { path: { pool, image: 'vol1' } } })) void snap.name;
  const task = await rbd.waitForTask('1-abcdefghi-0123abcd', { signal: AbortSignal.timeout(1000), onProgress: (t) => void t.progress });
  if (task.state === 'failed') void full.features;
  const one = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool, image: 'vol1' } } });
  const img: Image | undefined = one.data;
  const page = await rbd.GET('/api/v1/pools/{pool}/images', { params: { path: { pool }, query: { details: 'true', limit: 50 } } });
  const pools = await rbd.GET('/api/v1/pools');
  const del = await rbd.DELETE('/api/v1/pools/{pool}', { params: { path: { pool }, query: { confirm: pool } } });
  return [String(size), img?.name ?? '', ...(page.data?.items.map((i) => i.name) ?? []), ...(pools.data?.items.map((p) => p.name) ?? []), String(del.response.status)];
}
`;

// each: a line that must not compile, and the TypeScript error code expected ('' = any error)
const BAD: [string, string][] = [
  [`rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p', image: 'i' } }, body: { size: true } });`, 'TS2322'],
  [`rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p' } } });`, 'TS2741'],
  [`rbd.GET('/api/v1/pool/{pool}', { params: { path: { pool: 'p' } } });`, 'TS2345'],
  [`rbd.GET('/api/v1/pools/{pool}/images', { params: { path: { pool: 'p' }, query: { details: 'yes' } } });`, 'TS2322'],
  [`rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p', image: 'i' } }, body: { features: ['layering'] } });`, ''], // neither size nor a clone source
  [`rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p', image: 'i' } }, body: { size: '1GiB', features: ['layerin'] } });`, 'TS2820'], // "did you mean 'layering'?"
  [`(async () => { const r = await rbd.GET('/api/v1/pools'); if (r.data) r.data.items[0]?.nosuch; })();`, 'TS2339'],
  // Prefer: the default client does not take the header; a minimal client's create may be ImageCreated
  [`rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p', image: 'i' }, header: { prefer: 'return=minimal' } }, body: { size: '1GiB' } });`, 'TS2322'],
  [`(async () => { const r = await createRbdClient('u', 't', { prefer: 'minimal' }).PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: 'p', image: 'i' } }, body: { size: '1GiB' } }); if (r.data) { const i: import('../../client/index.js').Image = r.data; void i; } })();`, 'TS2322'],
  // pages only over list routes, items typed
  [`rbd.pages('/api/v1/pools/{pool}', { params: { path: { pool: 'p' } } });`, 'TS2345'],
  [`(async () => { for await (const i of rbd.items('/api/v1/pools/{pool}/images', { params: { path: { pool: 'p' } } })) i.nosuch; })();`, 'TS2339'],
];

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('typed client types (tsc --strict)', () => {
  it('a console-like snippet compiles, and every planted mistake is a compile error', async () => {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, 'good.ts'), GOOD);
    const header = `import { createRbdClient } from '../../client/index.js';\nconst rbd = createRbdClient('http://127.0.0.1:8080');\n`;
    BAD.forEach(([line], i) => writeFileSync(join(DIR, `bad${i}.ts`), `${header}${line}\nexport {};\n`));
    writeFileSync(join(DIR, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      include: ['*.ts'],
    }));
    const out = await promisify(execFile)('npx', ['--no-install', 'tsc', '-p', join(DIR, 'tsconfig.json')], { cwd: ROOT })
      .then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(errors.filter((l) => l.includes('good.ts')), 'the good snippet compiles').toEqual([]);
    BAD.forEach(([line, code], i) => {
      const mine = errors.filter((l) => l.includes(`bad${i}.ts(3,`));
      expect(mine.length, `bad${i} must not compile: ${line}`).toBeGreaterThan(0);
      if (code) expect(mine.map((l) => /error (TS\d+)/.exec(l)![1]), `bad${i}: ${line}`).toContain(code);
    });
    expect(errors.every((l) => /(good|bad\d+)\.ts/.test(l)), errors.join('\n')).toBe(true);
  }, 120_000);
});
