// Safe retries and concurrent edits, the HTTP side (the protocols are src/ceph/etag.ts and src/ceph/idempotency.ts;
// docs/concurrency.md): one place where routes get
//   - `ETag` on the answers that carry an image, a snapshot, a metadata key or a namespace (GET, PUT, PATCH), and
//     304 Not Modified for a GET whose If-None-Match names the current tag;
//   - `If-Match` / `If-None-Match` on their PUT, PATCH and DELETE: evaluated under the image's mutation lock,
//     which stays held while the route runs (412 PRECONDITION_FAILED with the current representation and ETag);
//   - `Idempotency-Key` on the POSTs that start work: a retry gets the first answer (the same task, the same
//     status), another request with the key 422, a retry while the first still runs 409.
// Routes are recognised by their URL (the tables below): the routes themselves stay as they are. Register
// before any route (it sees each route added, and documents the headers in its schema).
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError, PreconditionFailedError, TaskNotFoundError } from '../../ceph/errors.js';
import { canonicalJson, etagOfAnswer, underPreconditions, type Preconditions, type Resource, type ResourceKind } from '../../ceph/etag.js';
import { Claim, claimContext, Idempotency } from '../../ceph/idempotency.js';
import { imageKey, type MutationKey } from '../../ceph/image-lock.js';
import type { ImageInfo } from '../../ceph/image-info.js';
import { ApiError, fromDomainError } from '../errors.js';
import { toImage } from '../image-view.js';
import { API_PREFIX, specOf } from '../paths.js';
import { ETAG_MARK, problemSchema } from '../schemas/common.js';
import { taskView } from '../task-reply.js';
import { invalidField } from '../validation.js';

/** The representations that carry an ETag, by the end of their route's URL. */
const RESOURCES: readonly [RegExp, ResourceKind][] = [
  [/\/images\/:image$/, 'image'],
  [/\/images\/:image\/snapshots\/:snapshot$/, 'snapshot'],
  [/\/images\/:image\/metadata\/:key$/, 'metadata'],
  [new RegExp(`^${API_PREFIX}/pools/:pool/namespaces/:namespace$`), 'namespace'],
];

/** The POSTs that start work (or create): Idempotency-Key. A new one (a migration) is added here. */
const KEYED_POSTS: readonly RegExp[] = [
  /\/images$/, /\/images\/:image\/copy$/, /\/images\/:image\/flatten$/, /\/images\/:image\/snapshots$/,
  /\/images\/:image\/snapshots\/:snapshot\/rollback$/, /\/trash\/purge$/, /\/trash\/:id\/restore$/,
];

interface SafeRetries { resource?: ResourceKind; keyed?: boolean }
declare module 'fastify' {
  interface FastifyContextConfig { safeRetries?: SafeRetries }
}

const IF_MATCH_HELP = 'a list of entity tags ("…", as ETag gave them) or *';
const conditionalHeaders = {
  'if-match': z.string().max(4096).optional().describe('Change only if the resource\'s ETag is one of these (or `*`: it exists); '
    + 'otherwise 412 PRECONDITION_FAILED with the current representation. Checked under the image\'s mutation lock.'),
  'if-none-match': z.string().max(4096).optional().describe('`*` on PUT: create only (412 when it exists).'),
};
const keyHeader = {
  'idempotency-key': z.string().max(300).optional().describe('A unique key for this request (IETF httpapi Idempotency-Key, e.g. '
    + '`"8e03978e-40d5-43e8-bc93-6894a57f9324"`): a retry with the same key and body gets the first answer (the same task) for as long '
    + 'as the task is kept; the same key with another request 422 IDEMPOTENCY_KEY_REUSED; while the first is still being processed 409.'),
};

/** `*` or a list of entity tags; 400 naming the header when it is neither. */
function parseTags(name: 'if-match' | 'if-none-match', value: string): NonNullable<Preconditions['ifMatch']> {
  if (value.trim() === '*') return { any: true };
  const tags = value.split(',').map((part) => /^\s*(W\/)?"([\x21\x23-\x7e]*)"\s*$/.exec(part));
  if (tags.length === 0 || tags.some((t) => t === null)) throw invalidField('headers', name, `must be ${IF_MATCH_HELP}`);
  return { tags: tags.map((t) => ({ weak: t![1] !== undefined, tag: t![2]! })) };
}

/** The key of an Idempotency-Key header: a Structured Field string ("…"), or the bare characters. */
function parseKey(value: string): string {
  const m = /^\s*"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"\s*$/.exec(value) ?? /^\s*([\x21\x23-\x5b\x5d-\x7e]{1,255})\s*$/.exec(value);
  if (!m) throw invalidField('headers', 'idempotency-key', 'must be a string of 1 to 255 visible ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"');
  return m[1]!;
}

type Params = { pool: string; namespace?: string; image?: string; snapshot?: string; key?: string };

function resourceOf(kind: ResourceKind, p: Params): Resource {
  switch (kind) {
    case 'image': return { kind, spec: specOf(p), image: p.image! };
    case 'snapshot': return { kind, spec: specOf(p), image: p.image!, snapshot: p.snapshot! };
    case 'metadata': return { kind, spec: specOf(p), image: p.image!, key: p.key! };
    case 'namespace': return { kind, pool: p.pool, namespace: p.namespace! };
  }
}

const CLAIM = Symbol('idempotency claim');
type Keyed = FastifyRequest & { [CLAIM]?: Claim };

async function safeRetries(app: FastifyInstance): Promise<void> {
  const idempotency = new Idempotency(app.ceph, {
    retentionMs: app.ceph.tasks.opts.retentionMs || 7 * 86_400_000,
    taskExists: (id) => app.ceph.tasks.get(id).then(() => true, (e: unknown) => {
      if (e instanceof TaskNotFoundError) return false;
      throw e;
    }),
  });

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = route.schema as { hide?: boolean; headers?: unknown; response?: Record<number, unknown> } | undefined;
    if (!schema || schema.hide) return;
    const resource = RESOURCES.find(([re]) => re.test(route.url))?.[1];
    const conditional = resource !== undefined && methods.some((m) => m === 'PUT' || m === 'PATCH' || m === 'DELETE');
    const keyed = methods.includes('POST') && KEYED_POSTS.some((re) => re.test(route.url));
    if (!resource && !keyed) return;
    route.config = { ...route.config, safeRetries: { resource, keyed } } as typeof route.config;
    // the answers that carry the representation (200, 201) have an ETag: tidyDocument (openapi-document.ts) documents it
    if (resource && methods.some((m) => m === 'GET' || m === 'PUT' || m === 'PATCH')) route.schema = { ...route.schema, [ETAG_MARK]: true } as typeof route.schema;
    if (!conditional && !keyed) return;
    const added = { ...(conditional ? conditionalHeaders : {}), ...(keyed ? keyHeader : {}) };
    const headers = schema.headers instanceof z.ZodObject ? schema.headers.extend(added) : z.object(added).loose();
    const response = { ...schema.response, ...(conditional ? { 412: problemSchema } : {}), ...(keyed ? { 409: problemSchema, 422: problemSchema } : {}) };
    route.schema = { ...route.schema, headers, response };
  });

  app.addHook('preHandler', (req, reply, done) => {
    const cfg = req.routeOptions.config.safeRetries;
    if (!cfg) { done(); return; }
    let called = false;
    const next = (err?: Error): void => {
      if (called) return;
      called = true;
      if (err) done(err);
      else done();
    };
    const h = req.headers;
    void (async () => {
      const key = cfg.keyed && typeof h['idempotency-key'] === 'string' ? parseKey(h['idempotency-key']) : undefined;
      if (key !== undefined) {
        const params = req.params as Params;
        const begun = await idempotency.begin({
          pool: params.pool, principal: req.principal?.name ?? '', key,
          fingerprint: `${req.method} ${req.url}\n${canonicalJson(req.body ?? null)}`,
        });
        if (begun.kind === 'replay') {
          called = true; // answered here: the route does not run
          await replay(app, reply, begun.answer);
          return;
        }
        (req as Keyed)[CLAIM] = begun.claim;
        claimContext.run(begun.claim, () => next());
        return;
      }
      const method = req.method;
      if (!cfg.resource || (method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE')) {
        next(); // a GET's If-None-Match is answered in onSend (304), never refused
        return;
      }
      const ifMatch = typeof h['if-match'] === 'string' ? parseTags('if-match', h['if-match']) : undefined;
      const ifNoneMatch = typeof h['if-none-match'] === 'string' ? parseTags('if-none-match', h['if-none-match']) : undefined;
      if (!ifMatch && !ifNoneMatch) {
        next();
        return;
      }
      const params = req.params as Params;
      const r = resourceOf(cfg.resource, params);
      // a rename holds the new name too (the PATCH takes it anyway: taken here first, in the global order)
      const rename = (req.body as { name?: unknown } | undefined)?.name;
      const also: MutationKey[] = cfg.resource === 'image' && method === 'PATCH' && typeof rename === 'string' ? [imageKey(specOf(params), rename)] : [];
      await underPreconditions(app.ceph, r, { ifMatch, ifNoneMatch }, method, also, () => new Promise<void>((release) => {
        // held until the answer is out (or the client went away)
        reply.raw.once('close', () => release());
        next();
      }));
    })().catch((e: unknown) => {
      if (called) {
        req.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'safe-retries: after the route ran');
        return;
      }
      if (e instanceof PreconditionFailedError) {
        const current = cfg.resource === 'image' && e.current ? toImage(e.current as ImageInfo, req.principal) : e.current;
        if (e.etag) void reply.header('etag', e.etag);
        const base = fromDomainError(e)!;
        next(new ApiError('PRECONDITION_FAILED', base.detail, { currentETag: e.etag ?? null, ...(current !== undefined ? { current } : {}) }));
        return;
      }
      if (e instanceof IdempotencyKeyInUseError) void reply.header('retry-after', '1');
      next(e instanceof IdempotencyKeyReusedError || e instanceof IdempotencyKeyInUseError ? fromDomainError(e) : e as Error);
    });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const cfg = req.routeOptions.config?.safeRetries;
    if (!cfg) return payload;
    const status = reply.statusCode;
    if (cfg.resource && (status === 200 || status === 201) && typeof payload === 'string' && req.method !== 'DELETE') {
      let tag: string | undefined;
      try {
        tag = etagOfAnswer(cfg.resource, JSON.parse(payload));
      } catch { /* not JSON: no tag */ }
      if (tag) {
        void reply.header('etag', tag);
        // a GET whose If-None-Match names the current tag: 304, no body (a console's cache is still right)
        const inm = req.method === 'GET' ? req.headers['if-none-match'] : undefined;
        if (typeof inm === 'string' && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === tag))) {
          void reply.code(304);
          return '';
        }
      }
    }
    const claim = (req as Keyed)[CLAIM];
    if (claim) {
      (req as Keyed)[CLAIM] = undefined;
      try {
        if (status >= 200 && status < 300 && typeof payload === 'string') {
          const headers: Record<string, string> = {};
          for (const name of ['location', 'link', 'content-type', 'preference-applied', 'x-trash-id']) {
            const v = reply.getHeader(name);
            if (typeof v === 'string') headers[name] = v;
          }
          await claim.complete({ status, headers, body: payload });
        } else {
          await claim.abandon();
        }
      } catch (e) {
        req.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'Idempotency-Key: the answer could not be recorded');
      }
    }
    return payload;
  });
}

/** The first request's answer again: a task as it is now, anything else as it was. */
async function replay(app: FastifyInstance, reply: FastifyReply, a: { status: number; headers: Record<string, string>; body: string; task?: string | undefined }): Promise<void> {
  let body: string = a.body;
  if (a.task !== undefined) {
    body = await app.ceph.tasks.get(a.task).then((t) => JSON.stringify(taskView(t)), () => a.body);
  }
  void reply.code(a.status).headers(a.headers).header('idempotency-replayed', 'true');
  if (!a.headers['content-type']) void reply.type('application/json; charset=utf-8');
  await reply.send(body);
}

export const safeRetriesPlugin = fp(safeRetries, { name: 'rbd-safe-retries', fastify: '5.x', dependencies: ['rbd-core', 'rbd-problems'] });
