// Waiting for a task (202 + Location) to end, through GET /api/v1/tasks/{id}.
import type { FastifyInstance } from 'fastify';

/** Poll a task until it ends. */
export async function waitTask(app: FastifyInstance, location: string, ms = 60_000): Promise<{ state: string; [k: string]: unknown }> {
  const until = Date.now() + ms;
  for (;;) {
    const task = (await app.inject({ method: 'GET', url: location })).json();
    if (['succeeded', 'failed', 'cancelled'].includes(task.state)) return task;
    if (Date.now() > until) throw new Error(`task ${location} still ${task.state} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
