// The audit trail: one structured line per mutating request (POST, PUT, PATCH, DELETE — whatever the outcome,
// refused ones included), per request refused by authentication (401/403, any method), and per task
// transition. Lines go to their own logger (`"audit": true` in every line; a child of the service logger at
// level info whatever LOG_LEVEL says, or a file of its own with AUDIT_LOG_FILE), so LOG_LEVEL never drops them.
//
//   {"audit":true,"kind":"request","time":"…","requestId":"…","principal":"provisioner","source":"10.1.2.3",
//    "method":"DELETE","path":"/api/v1/pools/rbd/images/vol1","action":"image.delete","target":"rbd/vol1",
//    "outcome":{"result":"success","status":204}}
//   {"audit":true,"kind":"task","taskId":"…","action":"image.flatten","target":"rbd/ns/vol1","state":"succeeded",…}
//
// `principal` is the token's NAME from the token file (never the token; null when authentication is off).
// `action` is <resource>.<verb> derived from the route (or the route's `config.audit`); `target` is the rbd CLI
// spelling pool[/namespace][/image][@snapshot]; `outcome` has the status, the error code and errno, and the
// task id when the answer points at one (Location or Link: /api/v1/tasks/{id}). Bodies and headers are never
// logged.
//
// Requests refused before routing, or whose body never arrived, are audited by plugins/audit-refused.ts.
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { API_PREFIX } from '../paths.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the audit action of this route, when the derived one (<resource>.<verb>) does not fit */
    audit?: string;
  }
}

/**
 * Requests that have their line (Node's request objects): one whose body never arrived is audited from
 * clientError (plugins/audit-refused.ts) and may still reach onResponse.
 */
export const audited = new WeakSet<IncomingMessage>();
export const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UNCHANGED_PLURALS = new Set(['trash', 'metadata', 'status', 'usage', 'progress']);
const IRREGULAR: Record<string, string> = { features: 'feature', aliases: 'alias', statuses: 'status' };
const TASK_LINK = /\/api\/v1\/tasks\/([^/?#>\s]+)/;
/** the path as sent, without the query, cut to 2048 characters (a refused 16 KiB URL is not kept whole) */
export const pathOf = (url: string): string => {
  const path = url.split('?')[0]!;
  return path.length > 2048 ? `${path.slice(0, 2048)}…` : path;
};

/** path words that name a collection (a POST on them creates); any other word after an item is a verb */
const COLLECTIONS = new Set(['pools', 'images', 'snapshots', 'snaps', 'namespaces', 'trash', 'metadata', 'tasks', 'features',
  'config', 'watchers', 'children', 'clones', 'groups', 'locks', 'mirroring', 'usage', 'stats', 'parent', 'keys']);

const singular = (word: string): string =>
  IRREGULAR[word] ?? (UNCHANGED_PLURALS.has(word) || !word.endsWith('s') ? word : word.slice(0, -1));

/**
 * `<resource>.<verb>` from the method and the route template: POST on a collection = create, POST on
 * `<item>/<verb>` = that verb (flatten, rollback, restore, cancel…), PUT = put (idempotent create or set),
 * PATCH = update, DELETE = delete, GET = list or get.
 */
export function auditAction(method: string, route: string | undefined): string {
  if (!route) return `unmatched.${method.toLowerCase()}`;
  const segments = route.replace(API_PREFIX, '').split('/').filter(Boolean);
  let resource: string | undefined;
  let onItem = false;
  let verb: string | undefined;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.startsWith(':') || s === '*') {
      onItem = true;
      continue;
    }
    if (onItem && i === segments.length - 1 && method === 'POST' && resource !== undefined && !COLLECTIONS.has(s.toLowerCase())) {
      verb = s.toLowerCase(); // POST /images/:image/flatten
      break;
    }
    resource = singular(s.toLowerCase());
    onItem = false;
  }
  resource ??= 'root';
  if (verb) return `${resource}.${verb}`;
  switch (method) {
    case 'POST': return onItem ? `${resource}.post` : `${resource}.create`;
    case 'PUT': return `${resource}.put`;
    case 'PATCH': return `${resource}.update`;
    case 'DELETE': return `${resource}.delete`;
    case 'GET': case 'HEAD': return onItem ? `${resource}.get` : `${resource}.list`;
    default: return `${resource}.${method.toLowerCase()}`;
  }
}

/**
 * The target in rbd CLI spelling: pool[/namespace][/image][@snapshot], then other addressed things as
 * `/kind:value` (trash:<id>, metadata:<key>); tasks are `task:<id>`. For a create on a collection the new
 * name comes from the body's `name`.
 */
export function auditTarget(route: string | undefined, params: Record<string, unknown>, body: unknown, method: string): string | undefined {
  if (!route) return undefined;
  const segments = route.replace(API_PREFIX, '').split('/').filter(Boolean);
  const value = (seg: string): string | undefined => {
    const v = params[seg.slice(1)];
    return typeof v === 'string' ? v : undefined;
  };
  let out = '';
  const bodyName = body && typeof body === 'object' && typeof (body as { name?: unknown }).name === 'string'
    ? (body as { name: string }).name : undefined;
  for (let i = 0; i < segments.length; i++) {
    const lit = segments[i]!;
    const next = segments[i + 1];
    const v = next?.startsWith(':') ? value(next) : undefined;
    const isLast = next === undefined;
    // a create on a collection: the new name is in the body
    const name = v ?? (isLast && method === 'POST' ? bodyName : undefined);
    if (name === undefined) {
      if (next?.startsWith(':')) i++;
      continue;
    }
    switch (lit) {
      case 'pools': out = name; break;
      case 'namespaces': out += `/${name}`; break;
      case 'images': out += `/${name}`; break;
      case 'snapshots': case 'snaps': out += `@${name}`; break;
      case 'tasks': out = out ? `${out}/task:${name}` : `task:${name}`; break;
      default: out += `${out ? '/' : ''}${singular(lit)}:${name}`;
    }
    if (v !== undefined) i++;
  }
  return out || undefined;
}

export type Result = 'success' | 'denied' | 'rejected' | 'error';
export const resultOf = (status: number): Result =>
  status < 400 ? 'success' : status === 401 || status === 403 || status === 429 ? 'denied' : status < 500 ? 'rejected' : 'error';

function taskIdOf(reply: FastifyReply): string | undefined {
  for (const h of ['location', 'link', 'content-location']) {
    const v = reply.getHeader(h);
    const m = typeof v === 'string' ? TASK_LINK.exec(v) : undefined;
    if (m) return decodeURIComponent(m[1]!);
  }
  return undefined;
}

export interface AuditRequestLine {
  kind: 'request';
  requestId: string;
  principal: string | null;
  source: string;
  method: string;
  path: string;
  action: string;
  target?: string;
  outcome: { result: Result; status: number; code?: string; errno?: string; taskId?: string };
  /** an upload's figures (imports): declared and received bytes, bytes written, the digest sent */
  content?: Record<string, unknown>;
}

export function auditLine(req: FastifyRequest, reply: FastifyReply): AuditRequestLine {
  const route = req.routeOptions.url;
  const status = reply.statusCode;
  const target = auditTarget(route, (req.params ?? {}) as Record<string, unknown>, req.body, req.method);
  const taskId = taskIdOf(reply);
  // the not-found handler answers NOT_FOUND without going through the error handler
  const code = req.outcome?.code ?? (route === undefined && status === 404 ? 'NOT_FOUND' : undefined);
  return {
    kind: 'request',
    requestId: req.id,
    principal: req.principal?.name ?? null,
    source: req.ip,
    method: req.method,
    path: pathOf(req.url),
    action: req.routeOptions.config?.audit ?? auditAction(req.method, route),
    ...(target !== undefined ? { target } : {}),
    outcome: {
      result: resultOf(status), status,
      ...(code !== undefined ? { code } : {}),
      ...(req.outcome?.errno ? { errno: req.outcome.errno } : {}),
      ...(taskId !== undefined ? { taskId } : {}),
    },
    ...(req.auditContent ? { content: req.auditContent } : {}),
  };
}

// ---- task transitions ----

/** The part of the task engine (src/ceph/tasks/engine.ts) the audit trail uses. */
export interface AuditableTask {
  id: string;
  action: string;
  target: { pool: string; namespace?: string; image?: string; snapshot?: string; imageId?: string };
  state: string;
  progress?: number;
  error?: { code: string; detail?: string; errno?: string };
  createdAt?: string;
  startedAt?: string;
  finishedAt?: string;
}
/** One transition as the task engine reports it (src/ceph/tasks/types.ts TaskTransition). */
export interface AuditableTransition {
  task: AuditableTask;
  from?: string | undefined;
  to: string;
  /** submitted | started | resumed | cancel-requested | cancelled | succeeded | failed | interrupted */
  reason?: string;
  /** the replica that made the transition (host:pid:…) */
  instance?: string;
}
export type TransitionListener = (t: AuditableTransition) => void;
export interface TransitionSource { onTransition(listener: TransitionListener): (() => void) | void }

export function taskTarget(t: AuditableTask['target']): string {
  let s = t.pool;
  if (t.namespace) s += `/${t.namespace}`;
  if (t.image) s += `/${t.image}`;
  if (t.snapshot) s += `@${t.snapshot}`;
  return s;
}

export function taskLine(t: AuditableTransition): Record<string, unknown> {
  const { task } = t;
  return {
    kind: 'task',
    taskId: task.id,
    action: task.action,
    target: taskTarget(task.target),
    ...(task.target.imageId ? { imageId: task.target.imageId } : {}),
    ...(t.from !== undefined ? { from: t.from } : {}),
    state: t.to,
    ...(t.reason ? { reason: t.reason } : {}),
    ...(t.instance ? { instance: t.instance } : {}),
    ...(task.error ? { error: { code: task.error.code, ...(task.error.errno ? { errno: task.error.errno } : {}) } } : {}),
  };
}

/** Write an audit line for every task transition of `source` (the task engine); returns the unsubscribe. */
export function auditTasks(audit: Logger, source: TransitionSource): () => void {
  const off = source.onTransition((t) => {
    audit.info(taskLine(t), `task ${t.task.action} ${taskTarget(t.task.target)} ${t.from ?? 'new'} -> ${t.to}`);
  });
  return typeof off === 'function' ? off : () => {};
}

// ---- what the scheduler did (src/ceph/schedules/): each snapshot it takes or removes, each slot claimed ----

/** One scheduler event (src/ceph/schedules/tasks.ts ScheduleEvent), as much as the audit trail needs. */
export interface AuditableScheduleEvent { kind: string; target: string; [k: string]: unknown }
export interface ScheduleSource { onEvent(listener: (e: AuditableScheduleEvent) => void): () => void }

/** Write an audit line for what the scheduler of `source` does: `{"kind":"schedule","event":"snapshot-created",…}`. */
export function auditSchedules(audit: Logger, source: ScheduleSource): () => void {
  return source.onEvent((e) => {
    const { kind, ...rest } = e;
    audit.info({ kind: 'schedule', event: kind, ...rest }, `schedule ${kind} ${e.target}${typeof e.snapshot === 'string' ? `@${e.snapshot}` : ''}`);
  });
}

/** The task engine of the Ceph client, when there is one (src/ceph/tasks/engine.ts). */
function taskSource(app: FastifyInstance): TransitionSource | undefined {
  const tasks = (app.ceph as unknown as { tasks?: Partial<TransitionSource> }).tasks;
  return tasks && typeof tasks.onTransition === 'function' ? (tasks as TransitionSource) : undefined;
}

async function auditTrail(app: FastifyInstance, { audit }: { audit: Logger }): Promise<void> {
  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'OPTIONS') return; // CORS preflights and the like change nothing
    const status = reply.statusCode;
    if (!MUTATING.has(req.method) && status !== 401 && status !== 403) return;
    if (audited.has(req.raw)) return;
    audited.add(req.raw);
    const line = auditLine(req, reply);
    audit.info(line, `${line.action} ${line.target ?? line.path} ${status}`);
  });
  const source = taskSource(app);
  if (source) {
    const off = auditTasks(audit, source);
    app.addHook('onClose', async () => off());
  }
  const schedules = (app.ceph as unknown as { schedules?: Partial<ScheduleSource> }).schedules;
  if (schedules && typeof schedules.onEvent === 'function') {
    const off = auditSchedules(audit, schedules as ScheduleSource);
    app.addHook('onClose', async () => off());
  }
}

export const auditPlugin = fp(auditTrail, { name: 'rbd-audit', fastify: '5.x', dependencies: ['rbd-core'] });
