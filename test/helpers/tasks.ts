// Helpers for the task and trash tests: the rbd/rados CLIs on the test cluster, and waiting for a task.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { clusterDir } from './cluster.js';

const run = promisify(execFile);

/** `rbd -c <test conf> ...args` (admin key); stdout. */
export async function rbdCli(...args: string[]): Promise<string> {
  const { stdout } = await run('rbd', ['-c', `${clusterDir()}/ceph.conf`, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export async function radosCli(...args: string[]): Promise<string> {
  const { stdout } = await run('rados', ['-c', `${clusterDir()}/ceph.conf`, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Object names in a pool (all namespaces). */
export async function objectsOf(pool: string): Promise<string[]> {
  return (await radosCli('-p', pool, 'ls', '--all')).split('\n').map((l) => l.trim()).filter(Boolean);
}

export interface TaskJson {
  id: string; action: string; state: string; progress: number; target: Record<string, string>;
  createdAt: string; startedAt?: string; finishedAt?: string; error?: { code: string; detail: string }; result?: Record<string, unknown>;
  cancelRequested?: boolean; attempts?: number;
}

/** Poll GET /api/v1/tasks/{id} until `until` holds (default: the task ended); returns every distinct view seen. */
export async function waitTask(app: FastifyInstance, id: string, timeoutMs = 60_000,
  until: (t: TaskJson) => boolean = (t) => ['succeeded', 'failed', 'cancelled'].includes(t.state),
  headers: Record<string, string> = {}): Promise<{ task: TaskJson; seen: TaskJson[] }> {
  const started = Date.now();
  const seen: TaskJson[] = [];
  for (;;) {
    const r = await app.inject({ method: 'GET', url: `/api/v1/tasks/${id}`, headers });
    if (r.statusCode !== 200) throw new Error(`GET task ${id}: ${r.statusCode} ${r.body}`);
    const t = r.json() as TaskJson;
    const last = seen[seen.length - 1];
    if (!last || last.state !== t.state || last.progress !== t.progress) seen.push(t);
    if (until(t)) return { task: t, seen };
    if (Date.now() - started > timeoutMs) throw new Error(`task ${id} still ${t.state} (${t.progress}) after ${timeoutMs} ms`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
}

/** The task id in `Link: </api/v1/tasks/{id}>; rel="monitor"`. */
export function monitorId(link: string | string[] | undefined): string {
  const m = /<\/api\/v1\/tasks\/([^>]+)>;\s*rel="monitor"/.exec(String(link ?? ''));
  if (!m) throw new Error(`no monitor link in ${String(link)}`);
  return decodeURIComponent(m[1]!);
}
