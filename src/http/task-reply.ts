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

/** The task with its error as a problem object. */
export function taskView(t: TaskRecord): TaskView {
  const { error, ...rest } = t;
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
