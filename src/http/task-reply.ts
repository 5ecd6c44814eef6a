// How a task looks over HTTP, and the answer every route that starts a long operation gives:
// 202 Accepted, `Location: /api/v1/tasks/{id}` and the task.
import type { FastifyReply } from 'fastify';
import type { TaskRecord } from '../ceph/tasks/types.js';
import { ERROR_CODES, problemType, type ErrorCode } from './errors.js';
import { API_PREFIX } from './paths.js';

export const taskPath = (id: string): string => `${API_PREFIX}/tasks/${encodeURIComponent(id)}`;

export interface TaskView extends Omit<TaskRecord, 'error'> {
  error?: { type: string; title: string; status: number; detail: string; code: string; errno?: string };
}

/**
 * A task's params as clients see them: what they asked for. The runner's own bookkeeping stays in the record
 * (RADOS) and out of answers: `temporary` (the hidden name a copy or an import is made under; only the runner
 * and its cleanup read it), `order` and `stripeToObject` (a copy's object size as librbd takes it: shown as the
 * `objectSize` in bytes the request gave).
 */
export function paramsView(params: Record<string, unknown>): Record<string, unknown> {
  const { temporary, order, stripeToObject, ...rest } = params;
  void temporary; void stripeToObject;
  return typeof order === 'number' ? { ...rest, objectSize: 2 ** order } : rest;
}

/** The task with its error as a problem object, and its params without internal fields (paramsView). */
export function taskView(t: TaskRecord): TaskView {
  const { error, ...task } = t;
  const rest = task.params ? { ...task, params: paramsView(task.params) } : task;
  if (!error) return rest;
  const known = (ERROR_CODES as Record<string, { status: number; title: string } | undefined>)[error.code];
  return {
    ...rest,
    error: {
      type: known ? problemType(error.code as ErrorCode) : `urn:rbd-rest-api:problem:${error.code.toLowerCase().replace(/_/g, '-')}`,
      title: known?.title ?? 'The task failed',
      status: known?.status ?? 500,
      detail: error.detail,
      code: error.code,
      ...(error.errno ? { errno: error.errno } : {}),
    },
  };
}

/** 202 + Location + the task. */
export function replyTask(reply: FastifyReply, task: TaskRecord): FastifyReply {
  return reply.code(202).header('location', taskPath(task.id)).send(taskView(task));
}

/** The Link header that points at a task monitoring work started by a request answered otherwise (204). */
export function monitorLink(id: string): string {
  return `<${taskPath(id)}>; rel="monitor"`;
}
