// npm run dev (scripts/dev.sh): a busy port is refused before anything is installed, built or booted, and
// the dev bundle (scripts/dev-bundle.ts) builds src/ into a module whose ../package.json is the project's.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const listen = (server: Server): Promise<number> => new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
});

describe('npm run dev', () => {
  it('refuses a busy port at once, with nothing booted', async () => {
    const server = createServer();
    const port = await listen(server);
    const dir = mkdtempSync(join(tmpdir(), 'dev-port-'));
    try {
      const started = performance.now();
      // the cluster directory it would boot into: it must not appear
      const r = spawnSync('bash', ['scripts/dev.sh'], {
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CEPH_CLUSTER_DIR: join(dir, 'cluster') }, encoding: 'utf8', timeout: 60_000,
      });
      const seconds = (performance.now() - started) / 1000;
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(`port ${port} is in use on 127.0.0.1`);
      expect(r.stderr).not.toMatch(/\[setup\]|\[ceph-cluster/);
      expect(existsSync(join(dir, 'cluster'))).toBe(false);
      expect(seconds).toBeLessThan(15); // ~1 s: one node start; generous for a loaded machine
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('bundles src/ into .dev/main.js, which reads the project\'s package.json', () => {
    const r = spawnSync('node_modules/.bin/tsx', ['scripts/dev-bundle.ts', '--once'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const bundle = readFileSync('.dev/main.js', 'utf8');
    expect(bundle).toContain('../package.json');
    expect(bundle).toMatch(/\/\/# sourceMappingURL=main\.js\.map\s*$/);
    expect(existsSync(new URL('../package.json', new URL('../../.dev/main.js', import.meta.url)))).toBe(true);
    // packages stay in node_modules: the bundle imports them
    expect(bundle).toMatch(/from "fastify"/);
  }, 120_000);
});
