// waitForTask: follow a task over the service's event stream (GET /api/v1/tasks/{id}/events,
// text/event-stream) until it ends. Plain fetch with the Authorization header — so it works in browsers too,
// where EventSource cannot send that header. The stream is read as it comes; a stream cut before the task
// ended (a replica restarting, a proxy timeout) is resumed, as is a 429/502/503/504 answer (after its
// Retry-After); any other error answer is thrown as RbdApiError.
import { problemOf, RbdApiError } from './errors.js';
import { retryAfterMs, sleep } from './retry.js';
import type { components } from './schema.js';

export type Task = components['schemas']['Task'];
export type TaskState = Task['state'];
export const FINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

export interface WaitForTaskOptions {
  /** stops waiting (the promise rejects with the signal's reason); the task itself goes on */
  signal?: AbortSignal;
  /** every state the stream reports, the first and the last included */
  onProgress?: (task: Task) => void;
  /** streams that may end, or be refused with 429/5xx, one after another without news before giving up (default 5) */
  maxReconnects?: number;
}

export interface TaskStreamContext {
  baseUrl: string;
  headers: Headers;
  fetch: (input: Request) => Promise<Response>;
}

interface SseEvent { event: string; data: string }

/** The events of a text/event-stream body, as they arrive. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { event, data: data.join('\n') };
          event = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // a comment (keep-alive)
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Wait until task `id` ends; resolves with its final record (succeeded, failed or cancelled). */
export async function waitForTask(ctx: TaskStreamContext, id: string, options: WaitForTaskOptions = {}): Promise<Task> {
  const { signal, onProgress } = options;
  const maxReconnects = options.maxReconnects ?? 5;
  const url = `${ctx.baseUrl}/api/v1/tasks/${encodeURIComponent(id)}/events`;
  let last: Task | undefined;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    const headers = new Headers(ctx.headers);
    headers.set('accept', 'text/event-stream');
    const response = await ctx.fetch(new Request(url, { headers, ...(signal ? { signal } : {}) }));
    let delayMs = Math.min(10_000, 500 * 2 ** failures);
    if (response.ok && response.body) {
      let news = false;
      for await (const e of sseEvents(response.body)) {
        if (e.event === 'gone') throw new RbdApiError(404, undefined, `task ${id} was removed while it was followed`);
        if (e.event !== 'task') continue;
        const task = JSON.parse(e.data) as Task;
        news = true;
        last = task;
        onProgress?.(task);
        if (FINAL_STATES.includes(task.state)) return task;
      }
      if (news) failures = 0;
    } else if ([429, 502, 503, 504].includes(response.status)) {
      delayMs = retryAfterMs(response.headers.get('retry-after')) ?? delayMs;
      await response.body?.cancel().catch(() => undefined);
    } else {
      throw new RbdApiError(response.status, await problemOf(response), `following task ${id}`);
    }
    if (++failures > maxReconnects) {
      throw new RbdApiError(response.status, undefined, `following task ${id}: the event stream ended ${failures} times without the task ending (last state: ${last?.state ?? 'none'})`);
    }
    await sleep(delayMs, signal);
  }
}
