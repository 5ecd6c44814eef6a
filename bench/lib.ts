// bench/lib.ts — small helpers shared by the benchmark harness (bench/run.ts): timing, latency
// summaries, a fixed-concurrency runner, an HTTP client on undici, child processes.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Pool } from 'undici';

export const now = (): number => performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}

/** Latency summary of samples (ms). Percentiles by nearest rank on the sorted samples. */
export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, mean: 0, min: 0, p50: 0, p99: 0, max: 0 };
  const at = (q: number): number => s[Math.min(n - 1, Math.floor((n - 1) * q))] ?? 0;
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    n,
    mean: r(s.reduce((a, b) => a + b, 0) / n),
    min: r(s[0] ?? 0),
    p50: r(s[Math.floor(n / 2)] ?? 0),
    p99: r(at(0.99)),
    max: r(s[n - 1] ?? 0),
  };
}

export interface BatchResult {
  count: number;
  concurrency: number;
  total_s: number;
  rate_per_s: number;
  ms_per_op: number;
  errors: number;
  lat_ms: Summary;
  /** every task's latency (ms); not written to the results (non-enumerable) */
  readonly lat_samples?: number[];
}

/** Runs task(0..count-1) with `concurrency` in flight at a time. A task that throws counts as an error. */
export async function runBatch(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  onError?: (i: number, e: unknown) => void,
): Promise<BatchResult> {
  const lat: number[] = new Array<number>(count).fill(0);
  let next = 0;
  let errors = 0;
  const t0 = now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const s = now();
      try {
        await task(i);
      } catch (e) {
        errors++;
        if (errors <= 3) onError?.(i, e);
      }
      lat[i] = now() - s;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  const total = (now() - t0) / 1000;
  const result: BatchResult = {
    count,
    concurrency,
    total_s: round(total),
    rate_per_s: round(total > 0 ? count / total : 0),
    ms_per_op: round(count > 0 ? (1000 * total) / count : 0),
    errors,
    lat_ms: summarize(lat),
  };
  Object.defineProperty(result, 'lat_samples', { value: lat, enumerable: false });
  return result;
}

/** Times `reps` sequential runs of fn (ms each). */
/** `fn` timed `reps` times, after `warmup` untimed calls (a running service's JIT is warm; a fresh one's is not). */
export async function repeat(reps: number, fn: () => Promise<unknown>, warmup = 0): Promise<{ ms: Summary; last: unknown }> {
  const lat: number[] = [];
  let last: unknown;
  for (let i = 0; i < warmup; i++) await fn();
  for (let i = 0; i < reps; i++) {
    const s = now();
    last = await fn();
    lat.push(now() - s);
  }
  return { ms: summarize(lat), last };
}

export const round = (x: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A keep-alive HTTP client for one origin. */
export class Http {
  readonly pool: Pool;
  constructor(
    readonly origin: string,
    connections: number,
    private readonly defaultHeaders: Record<string, string> = {},
  ) {
    this.pool = new Pool(origin, { connections, pipelining: 1, headersTimeout: 300_000, bodyTimeout: 300_000 });
  }

  async call(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const h: Record<string, string> = { ...this.defaultHeaders, ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    const res = await this.pool.request({ method, path, headers: h, body: payload });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  /** call() that throws HttpError unless the status is in `ok` (default: any 2xx) */
  async expect(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, body?: unknown, ok?: number[], headers?: Record<string, string>): Promise<HttpResponse> {
    const r = await this.call(method, path, body, headers);
    if (ok ? !ok.includes(r.status) : r.status < 200 || r.status > 299) throw new HttpError(r.status, method, path, r.text);
    return r;
  }

  async json<T>(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.expect(method, path, body, undefined, headers);
    return JSON.parse(r.text) as T;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** A TCP port that was free a moment ago (bind :0 on 127.0.0.1, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion (no shell). Never throws for a non-zero exit; see `code`. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const t0 = now();
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 600_000, maxBuffer: 256 << 20, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: now() - t0 });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run() but streams the child's stderr through to ours (for long-running tools that report progress). */
export function runStreaming(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + String(e), ms: now() - t0 }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, ms: now() - t0 }));
  });
}

/** Resident set size of a process, in MiB (from /proc/PID/status VmRSS), or NaN if it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? round(Number(m[1]) / 1024, 1) : NaN;
  } catch {
    return NaN;
  }
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The functions with the most self time in a V8 .cpuprofile. */
export function profileSummary(file: string, top = 25): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[]; timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const f = byId.get(id)?.callFrame;
    const where = f ? `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules\/)?/, '$1')}:${f.lineNumber + 1}` : '?';
    self.set(where, (self.get(where) ?? 0) + dt);
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, v]) => `${(100 * v / total).toFixed(1).padStart(5)} %  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

/** Stop a service process the bench started: its HTTP client closed, SIGTERM, SIGKILL after 15 s. */
export async function stopService(s: { proc: import('node:child_process').ChildProcess; http: { close(): Promise<unknown> } }): Promise<void> {
  await s.http.close().catch(() => undefined);
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const gone = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}
