// Task and trash schemas (OpenAPI).
import { z } from 'zod';
import { existingPoolName, scopeParams } from './common.js';

export const TASK_STATE_VALUES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

export const taskErrorSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string().describe('stable error code (the same codes as problem documents, plus INTERRUPTED)'),
  errno: z.string().optional(),
}).meta({ id: 'TaskError', description: 'why the task failed: a problem object with a stable code' });

export const taskSchema = z.object({
  id: z.string().describe('"<pool id>-<created>-<random>"'),
  action: z.string().describe('image.remove, trash.remove, trash.purge, image.shrink, image.flatten, snapshot.rollback, image.copy, …'),
  target: z.object({
    pool: z.string(), namespace: z.string(), image: z.string(), imageId: z.string().optional(), snapshot: z.string().optional(),
  }),
  state: z.enum(TASK_STATE_VALUES),
  progress: z.number().min(0).max(1),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: taskErrorSchema.optional(),
  params: z.record(z.string(), z.unknown()).optional().describe('what the task was asked to do (its action\'s parameters, e.g. the destination of a copy, the size of a shrink)'),
  result: z.record(z.string(), z.unknown()).optional(),
  cancelRequested: z.boolean().optional().describe('a cancel was asked for; the runner stops at its next step'),
  attempts: z.number().int().optional().describe('runs started: more than 1 when a replica took the task over after its runner died'),
}).meta({ id: 'Task', description: 'A long operation, kept in RADOS; every replica answers the same for it' });

/** One event of GET /tasks/{id}/events (documented under text/event-stream: tidyDocument reads x-media-type). */
export const taskEventSchema = z.object({
  event: z.enum(['task', 'gone']).describe('`task`: the task now (at once, then at every change of state, progress or '
    + 'cancelRequested; the stream ends after the event of its final state); `gone`: the task was removed meanwhile (the stream ends)'),
  id: z.string().optional().describe('`id:` line: the event\'s sequence number in this stream (1, 2, …); `task` events only'),
  data: taskSchema.describe('`data:` line: the task as JSON (as GET /tasks/{id} answers it); `{}` for `gone`'),
}).meta({
  id: 'TaskEvent',
  description: 'A Server-Sent Event of a task\'s stream: lines `id: 1`, `event: task`, `data: {…the task…}` and an empty line. '
    + 'Comment lines (`: keep-alive`) come every 15 s while nothing changes.',
  'x-media-type': 'text/event-stream',
});

export const TASK_ID_PATTERN = /^[0-9]{1,10}-[0-9a-z]{9}-[0-9a-f]{8}$/;
export const taskIdParams = z.object({ id: z.string().min(1).max(256).describe('a task id') });

export const taskListQuery = z.object({
  pool: existingPoolName().optional().describe('only tasks of this pool'),
  state: z.enum(TASK_STATE_VALUES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(256).optional().describe('nextCursor of the previous page'),
});

export const taskListSchema = z.object({
  items: z.array(taskSchema),
  nextCursor: z.string().optional(),
}).meta({ id: 'TaskList' });

export const TRASH_SOURCES = ['user', 'mirroring', 'migration', 'removing', 'user_parent'] as const;
export const trashEntrySchema = z.object({
  id: z.string(),
  name: z.string().describe('the name the image had'),
  deletedAt: z.string(),
  deferredUntil: z.string().describe('until then, removal needs force=true; the image can be restored until it is removed'),
  source: z.enum(TRASH_SOURCES),
}).meta({ id: 'TrashEntry' });

export const trashListSchema = z.object({ items: z.array(trashEntrySchema), nextCursor: z.string().optional() }).meta({ id: 'TrashList' });
export const trashParams = scopeParams.extend({ id: z.string().min(1).max(256).describe('the trash entry (image) id') });
export const trashListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(256).optional(),
});
export const restoreBody = z.object({
  name: z.string().optional().describe('a new name (default: the name it had)'),
}).strict();
