// Runs the service as a real process — from source (node --import tsx src/main.ts, the default: no build
// step) or built (dist/main.js, as `npm start` and the container run it) — over HTTP or HTTPS (readiness is
// then polled with the test CA). The one launcher of the test suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Agent, request } from 'undici';
import { FILE_TASK_POOLS } from './cluster.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface Service {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  /** resolves with exit code and signal, and when it happened (Date.now()) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** SIGTERM, then SIGKILL after `ms`; resolves when the process is gone */
  stop: (ms?: number) => Promise<void>;
}

export interface StartOptions {
  /**
   * 'source': src/main.ts through tsx; 'dist': the built dist/main.js. Default: 'dist' when TEST_SERVICE_ENTRY=dist
   * (npm test builds first and sets it: a start then costs ~1.4 s of CPU instead of ~2.9 s), else 'source'.
   */
  entry?: 'source' | 'dist';
  /** extra node flags, e.g. --max-semi-space-size=4 */
  nodeArgs?: string[];
  /** PEM of the CA that signed the server certificate: the service is polled over HTTPS */
  ca?: string | Buffer;
  /** client certificate for readiness polls when the service asks for one */
  cert?: string | Buffer;
  key?: string | Buffer;
  port?: number;
  /** default 60 s */
  readyTimeoutMs?: number;
  /** wait for this status from /readyz (default 200); 'listening' = any HTTP answer */
  until?: 200 | 'listening';
}

export async function freePort(): Promise<number> {
  return new Promise((res, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

const defaultEntry = (): 'source' | 'dist' => (process.env.TEST_SERVICE_ENTRY === 'dist' ? 'dist' : 'source');

function spawnService(env: Record<string, string>, port: number, opts: StartOptions) {
  const dist = (opts.entry ?? defaultEntry()) === 'dist';
  const entry = dist ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  if (dist && !existsSync(resolve(ROOT, 'dist/main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)');
  }
  let out = '';
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', UV_THREADPOOL_SIZE: '24', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', TASK_POOLS: FILE_TASK_POOLS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { out += String(d); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((res) => {
    child.once('exit', (code, signal) => res({ code, signal, at: Date.now() }));
  });
  return { child, output: () => out, exited };
}

/** Start the service and wait until /readyz answers 200 (or anything, with until: 'listening'). */
export async function startService(env: Record<string, string>, opts: StartOptions = {}): Promise<Service> {
  const port = opts.port ?? await freePort();
  const { child, output, exited } = spawnService(env, port, opts);
  const scheme = opts.ca ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const dispatcher = new Agent({ connect: { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}) } });
  const started = Date.now();
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${output()}`);
      try {
        const r = await request(`${url}/readyz`, { dispatcher, headersTimeout: 5000 });
        await r.body.dump();
        if (opts.until === 'listening' || r.statusCode === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() - started > readyTimeoutMs) {
        child.kill('SIGKILL');
        throw new Error(`the service was not ready within ${readyTimeoutMs} ms:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await dispatcher.close();
  }
  const stop = async (ms = 20_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(t);
  };
  return { url, port, child, output, exited, stop };
}

/**
 * The kill -9 suites' victims, one fresh process per round: `next()` hands out a started service and, unless it
 * is the last round, starts the next one meanwhile, so a round does not wait for a process to boot. A victim
 * that waits is idle (no request reaches it before `next()` hands it out). `close()` stops a waiting one.
 */
export function victims(env: () => Record<string, string>, opts: StartOptions = {}) {
  let waiting: Promise<Service> | undefined;
  const start = () => {
    const p = startService(env(), opts);
    p.catch(() => { /* reported by the next() that takes it */ });
    return p;
  };
  return {
    async next(last = false): Promise<Service> {
      const s = waiting ?? start();
      waiting = last ? undefined : start();
      return s;
    },
    async close(): Promise<void> {
      const p = waiting;
      waiting = undefined;
      await p?.then((s) => s.stop(), () => undefined);
    },
  };
}

/** Start the service expecting it to refuse to start: resolves with its exit code and output. */
export async function startExpectingExit(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const port = await freePort();
  const { child, output, exited } = spawnService(env, port, {});
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(t);
  return { code, signal, output: output() };
}

/**
 * The kill -9 tests' survivor: the process that retries after a victim is killed. stopSurvivor fails the
 * suite when it died on its own meanwhile (with its last output), then stops it.
 */
export async function stopSurvivor(survivor: Service | undefined): Promise<void> {
  if (survivor && survivor.child.exitCode !== null) {
    throw new Error(`the surviving service exited (${survivor.child.exitCode} ${survivor.child.signalCode}):\n${survivor.output().slice(-6000)}`);
  }
  await survivor?.stop();
}
