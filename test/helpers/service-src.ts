// Runs the service from source (node --import tsx src/main.ts) as a real process — the same entry point as
// `npm start`, without a build step — over HTTP or HTTPS (then readiness is polled with the test CA).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Agent, request } from 'undici';
import { freePort } from './service.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface SourceService {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `ms`; resolves when the process is gone */
  stop: (ms?: number) => Promise<void>;
}

export interface StartOptions {
  /** PEM of the CA that signed the server certificate: the service is polled over HTTPS */
  ca?: string | Buffer;
  /** client certificate for readiness polls when the service asks for one */
  cert?: string | Buffer;
  key?: string | Buffer;
  port?: number;
  readyTimeoutMs?: number;
  /** wait for this status from /readyz (default 200); 'listening' = any HTTP answer */
  until?: 200 | 'listening';
}

function spawnService(env: Record<string, string>, port: number): { child: ChildProcess; output: () => string; exited: SourceService['exited'] } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', UV_THREADPOOL_SIZE: '24', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { out += String(d); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
  });
  return { child, output: () => out, exited };
}

export async function startFromSource(env: Record<string, string>, opts: StartOptions = {}): Promise<SourceService> {
  const port = opts.port ?? await freePort();
  const { child, output, exited } = spawnService(env, port);
  const scheme = opts.ca ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
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
      if (Date.now() - started > (opts.readyTimeoutMs ?? 60_000)) {
        child.kill('SIGKILL');
        throw new Error(`the service was not ready within ${opts.readyTimeoutMs ?? 60_000} ms:\n${output()}`);
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

/** Start the service expecting it to refuse to start: resolves with its exit code and output. */
export async function startExpectingExit(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const port = await freePort();
  const { child, output, exited } = spawnService(env, port);
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code } = await exited;
  clearTimeout(t);
  return { code, output: output() };
}

/**
 * The kill -9 tests' survivor: the process that retries after a victim is killed. stopSurvivor fails the
 * suite when it died on its own meanwhile (with its last output), then stops it.
 */
export async function stopSurvivor(survivor: SourceService | undefined): Promise<void> {
  if (survivor && survivor.child.exitCode !== null) {
    throw new Error(`the surviving service exited (${survivor.child.exitCode} ${survivor.child.signalCode}):\n${survivor.output().slice(-6000)}`);
  }
  await survivor?.stop();
}
