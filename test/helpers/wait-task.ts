// Waiting for a task through GET /api/v1/tasks/{id}, and reading the id a 202 answer points to.
import type { FastifyInstance } from 'fastify';

export interface TaskJson {
  id: string; action: string; state: string; progress: number; target: Record<string, string>;
  createdAt: string; startedAt?: string; finishedAt?: string; error?: { code: string; detail: string }; result?: Record<string, unknown>;
  cancelRequested?: boolean; attempts?: number;
}

export const taskEnded = (t: TaskJson): boolean => ['succeeded', 'failed', 'cancelled'].includes(t.state);

/**
 * Poll a task (its id, or its location /api/v1/tasks/{id}) every 100 ms until `until` holds (default: it
 * ended); returns its last view and every distinct (state, progress) view seen. Throws past `timeoutMs`,
 * and on any answer other than 200.
 */
export async function waitTask(app: FastifyInstance, idOrLocation: string, timeoutMs = 60_000,
  until: (t: TaskJson) => boolean = taskEnded,
  headers: Record<string, string> = {}): Promise<{ task: TaskJson; seen: TaskJson[] }> {
  const url = idOrLocation.startsWith('/') ? idOrLocation : `/api/v1/tasks/${idOrLocation}`;
  const started = Date.now();
  const seen: TaskJson[] = [];
  for (;;) {
    const r = await app.inject({ method: 'GET', url, headers });
    if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`);
    const t = r.json() as TaskJson;
    const last = seen[seen.length - 1];
    if (!last || last.state !== t.state || last.progress !== t.progress) seen.push(t);
    if (until(t)) return { task: t, seen };
    if (Date.now() - started > timeoutMs) throw new Error(`task ${url} still ${t.state} (${t.progress}) after ${timeoutMs} ms`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
}

/** The task id in `Link: </api/v1/tasks/{id}>; rel="monitor"`. */
export function monitorId(link: string | string[] | undefined): string {
  const m = /<\/api\/v1\/tasks\/([^>]+)>;\s*rel="monitor"/.exec(String(link ?? ''));
  if (!m) throw new Error(`no monitor link in ${String(link)}`);
  return decodeURIComponent(m[1]!);
}
