// /api/v1/tasks: durable long operations (src/ceph/tasks/). Read through any replica: the state is in RADOS.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError, TaskFailure, TaskFinishedError, TaskNotCancellableError, TaskNotFoundError } from '../../ceph/errors.js';
import { isFinished, type TaskRecord } from '../../ceph/tasks/types.js';
import { allows, seesPool } from '../auth.js';
import { ApiError, toApiError } from '../errors.js';
import { problems } from '../schemas/common.js';
import { TASK_ID_PATTERN, taskEventSchema, taskIdParams, taskListQuery, taskListSchema, taskSchema } from '../schemas/tasks.js';
import { taskView } from '../task-reply.js';
import { indexKey } from '../../ceph/tasks/store.js';
import { fittingItems, PAGE_BYTES } from '../page-bytes.js';
import { listingLimiter } from '../scan-limit.js';
import { invalidField } from '../validation.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const taskRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;

  // a handler's error becomes the task's error with the same stable codes as problem documents
  ceph.tasks.describeErrors((e) => {
    if (e instanceof TaskFailure) return { code: e.code, detail: e.detail, ...(e.errno ? { errno: e.errno } : {}) };
    const { api } = toApiError(e);
    return { code: api.code, detail: api.code === 'INTERNAL_ERROR' && e instanceof Error ? e.message : api.detail, ...(api.ceph ? { errno: api.ceph.code } : {}) };
  });
  // one log line per transition this instance makes
  const unsubscribe = ceph.tasks.onTransition((t) => {
    app.log.info({
      task: { id: t.task.id, action: t.task.action, target: t.task.target, from: t.from, to: t.to, reason: t.reason, progress: t.task.progress, ...(t.task.error ? { error: t.task.error } : {}) },
      instance: t.instance,
    }, `task ${t.task.id} ${t.task.action} ${t.reason}`);
  });
  app.addHook('onClose', async () => unsubscribe());

  /** The task, if it exists and the token may see its pool (else 404: no hint that it exists). */
  async function visibleTask(req: FastifyRequest, id: string): Promise<TaskRecord> {
    if (!TASK_ID_PATTERN.test(id)) {
      throw invalidField('params', 'id', 'a task id looks like "12-mi3x0k2ab-1f2e3d4c" (pool id, time, random)');
    }
    let task: TaskRecord;
    try {
      task = await ceph.tasks.get(id);
    } catch (e) {
      if (e instanceof TaskNotFoundError) throw new ApiError('TASK_NOT_FOUND', `Task ${id} does not exist.`);
      throw e;
    }
    if (req.principal && !allows(req.principal, task.target.pool, task.target.namespace)) {
      throw new ApiError('TASK_NOT_FOUND', `Task ${id} does not exist.`);
    }
    return task;
  }

  app.get('/tasks', {
    schema: {
      tags: ['tasks'], summary: 'List tasks, newest first', operationId: 'listTasks',
      description: 'Tasks of every pool the token may see (or of `pool`), newest first; `state` filters. '
        + `Pass \`nextCursor\` as \`cursor\` for the next page. A page holds at most \`limit\` tasks and ${PAGE_BYTES} bytes `
        + 'of JSON. Listings are read a few at a time per replica; beyond the queue 503 CEPH_BUSY.',
      querystring: taskListQuery,
      response: { 200: taskListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const { pool, state, limit, cursor } = req.query;
    const p = req.principal;
    if (pool !== undefined && p && !seesPool(p, pool)) throw new ApiError('FORBIDDEN', `This token may not use pool "${pool}".`);
    if (cursor !== undefined && !/^[0-9]{13}\.[0-9]{1,10}-[0-9a-z]{9}-[0-9a-f]{8}$/.test(cursor)) {
      throw invalidField('querystring', 'cursor', 'is not a cursor this API gave out: pass nextCursor from a previous page');
    }
    try {
      const page = await listingLimiter(ceph).limit(() => ceph.tasks.list({
        pool, state, limit, cursor,
        visible: p ? (pl, ns) => allows(p, pl, ns) : undefined,
        visiblePool: p ? (pl) => seesPool(p, pl) : undefined,
      }));
      const items = page.items.map(taskView);
      const n = fittingItems(items); // at most a page's bytes: the next page starts after the last task kept
      const nextCursor = n < items.length ? indexKey(items[n - 1]!.id) : page.nextCursor;
      return { items: items.slice(0, n), ...(nextCursor ? { nextCursor } : {}) };
    } catch (e) {
      if (isCephError(e, 'ENOENT') && pool !== undefined) throw new ApiError('POOL_NOT_FOUND', `Pool ${pool} does not exist.`, {}, e);
      throw e;
    }
  });

  app.get('/tasks/:id', {
    schema: {
      tags: ['tasks'], summary: 'Get a task', operationId: 'getTask',
      params: taskIdParams,
      response: { 200: taskSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => taskView(await visibleTask(req, req.params.id)));

  app.get('/tasks/:id/events', {
    schema: {
      tags: ['tasks'], summary: 'Follow a task (Server-Sent Events)', operationId: 'taskEvents',
      description: '`text/event-stream`: an event `task` (data: the task JSON) now and at every change of progress or '
        + 'state; the stream ends after the event of the final state. Works through any replica (it polls the record).',
      params: taskIdParams,
      response: { 200: taskEventSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    let task = await visibleTask(req, req.params.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(req.id),
    });
    let closed = false;
    req.raw.on('close', () => { closed = true; });
    res.on('close', () => { closed = true; });
    let seq = 0;
    const send = (t: TaskRecord) => { res.write(`id: ${++seq}\nevent: task\ndata: ${JSON.stringify(taskView(t))}\n\n`); };
    send(task);
    let lastBeat = Date.now();
    while (!closed && !isFinished(task.state)) {
      await sleep(250);
      if (closed) break;
      let next: TaskRecord;
      try {
        next = await ceph.tasks.get(task.id);
      } catch (e) {
        if (e instanceof TaskNotFoundError) { res.write('event: gone\ndata: {}\n\n'); break; }
        continue; // a hiccup of the cluster: keep following
      }
      if (next.state !== task.state || next.progress !== task.progress || next.cancelRequested !== task.cancelRequested) {
        send(next);
        lastBeat = Date.now();
      } else if (Date.now() - lastBeat > 15_000) {
        res.write(': keep-alive\n\n');
        lastBeat = Date.now();
      }
      task = next;
    }
    res.end();
  });

  app.delete('/tasks/:id', {
    schema: {
      tags: ['tasks'], summary: 'Cancel a task', operationId: 'cancelTask',
      description: 'A queued task ends `cancelled` at once (204). A running task is asked to stop, and the answer waits '
        + 'for its runner (up to 10 s): 202 with the task once it has ended `cancelled` (the cancel took effect). '
        + 'A 202 always means the task ended `cancelled`; a task that ends `succeeded` or `failed` never got a 202. '
        + 'A task with a commit point (image.copy: the rename) is answered at once: 202 before it (it will end `cancelled`), '
        + '409 TASK_NOT_CANCELLABLE after it. '
        + '409 TASK_FINISHED when it had already ended, or ended meanwhile because its work could no longer be stopped '
        + '(`state` says how); 409 TASK_NOT_CANCELLABLE when its runner did not stop it in time (a step that cannot be '
        + 'interrupted, or a stalled runner): the request stays recorded, so the task still ends `cancelled` if its runner '
        + 'stops it later, else it runs to its end; GET it for the outcome.',
      params: taskIdParams,
      response: { 202: taskSchema, 204: z.null(), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const task = await visibleTask(req, req.params.id);
    try {
      const { task: after, wasRunning } = await ceph.tasks.cancel(task.id);
      if (!wasRunning) return reply.code(204).send(null);
      return reply.code(202).send(taskView(after));
    } catch (e) {
      if (e instanceof TaskFinishedError) {
        throw new ApiError('TASK_FINISHED', e.tooLate
          ? `Task ${task.id} ended ${e.task.state} before it could be stopped: the cancel came too late.`
          : `Task ${task.id} already ended (${e.task.state}).`, { state: e.task.state });
      }
      if (e instanceof TaskNotCancellableError && e.waitedMs === 0) {
        throw new ApiError('TASK_NOT_CANCELLABLE', `Task ${task.id} is past the step after which it cannot be stopped; `
          + 'it runs to its end: GET the task for its outcome.', { state: e.task.state });
      }
      if (e instanceof TaskNotCancellableError) {
        throw new ApiError('TASK_NOT_CANCELLABLE', `Task ${task.id} did not stop within ${Math.round(e.waitedMs / 1000)} s `
          + '(it is in a step that cannot be interrupted, or its runner is stalled). The request stays recorded: the task ends '
          + 'cancelled if its runner stops it later, else it runs to its end; GET the task for its outcome.',
        { state: e.task.state });
      }
      if (e instanceof TaskNotFoundError) throw new ApiError('TASK_NOT_FOUND', `Task ${task.id} does not exist.`);
      throw e;
    }
  });
};
