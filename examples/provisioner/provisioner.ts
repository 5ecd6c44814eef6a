// A dynamic-provisioning hook on the typed client: a PersistentVolumeClaim-like document in, an RBD image
// out, through the service's idempotent PUT; DELETE on release. Safe to run again and again (a controller's
// reconcile loop, a retrying webhook): the image name is derived from the claim, PUT answers 201 the first
// time and 200 with the same image every time after, and DELETE of an image that is already gone is done.
//
// Sizes are rounded up like ceph-csi does (whole MiB below 1 GiB, whole GiB from 1 GiB), so a claim gets
// the same image from this hook as it would from ceph-csi. 503 (CEPH_UNAVAILABLE, CEPH_BUSY), 504
// (CEPH_TIMEOUT), 429 (RATE_LIMITED) and network errors/timeouts are retried with exponential backoff and
// jitter, waiting at least what Retry-After asks for.
//
// A claim with a clone source (spec.dataSource: another claim of the namespace) becomes a copy-on-write clone,
// as ceph-csi makes them: an idempotent snapshot `clone-<hash of the new image>` of the source image, then an
// idempotent PUT of the new image with `source: {image, snapshot}`. Release deletes the clone, follows its
// removal task, then deletes that snapshot. With `flattenClones` the clone is then flattened (POST …/flatten, a
// task) with an Idempotency-Key derived from the image: a retry after a lost answer, or the next reconcile, gets
// the first attempt's task back instead of 400 NOT_A_CLONE for a clone that attempt already flattened.
import { createHash } from 'node:crypto';
import { createRbdClient, idempotencyKey, retryAfterMs, type Image, type Problem, type RbdClient } from '../../client/index.js';

/** Seconds or an HTTP date, as Retry-After carries them (the client's reading). */
export { retryAfterMs };

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** What the hook reads from a claim (a subset of a Kubernetes PersistentVolumeClaim). */
export interface ClaimLike {
  metadata: { name: string; namespace?: string };
  spec: {
    resources: { requests: { storage: string | number } };
    /** a clone source: another claim of the same namespace */
    dataSource?: { kind: 'PersistentVolumeClaim'; name: string } | null;
  };
}

export interface Volume {
  /** pool[/namespace]/image, what a PersistentVolume's volumeHandle would carry */
  volumeHandle: string;
  pool: string;
  namespace?: string;
  image: string;
  capacityBytes: number;
  /** true when this call made the image, false when it already existed with this spec */
  created: boolean;
}

export class ProvisionError extends Error {
  constructor(message: string, readonly status?: number, readonly problem?: Problem) { super(message); }
}

/** Kubernetes resource quantity ("10Gi", "500M", "1.5Gi", "1e9", 1073741824) to bytes, rounded up. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q) || q <= 0) throw new ProvisionError(`requested storage ${q} is not a positive number of bytes`);
    return Math.ceil(q);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)(?:[eE]([0-9]+))?\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?\s*$/.exec(q);
  if (!m) throw new ProvisionError(`requested storage "${q}" is not a Kubernetes quantity (e.g. 10Gi, 500Mi, 1G)`);
  const units: Record<string, number> = {
    '': 1, Ki: 1024, Mi: MiB, Gi: GiB, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
    k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  };
  const bytes = Math.ceil(Number(m[1]) * 10 ** Number(m[2] ?? 0) * units[m[3] ?? '']!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ProvisionError(`requested storage "${q}" is out of range`);
  return bytes;
}

/** ceph-csi's rounding: up to whole MiB below 1 GiB, up to whole GiB from 1 GiB. */
export function roundSize(bytes: number): number {
  return bytes < GiB ? Math.ceil(bytes / MiB) * MiB : Math.ceil(bytes / GiB) * GiB;
}

/**
 * The image name for a claim: `kube.<namespace>.<name>` (a namespace has no '.', so it is unambiguous and
 * stable); names longer than the 128 characters the service creates are cut and end with a hash of the whole.
 */
export function imageNameFor(namespace: string, name: string, prefix = 'kube'): string {
  const full = `${prefix}.${namespace}.${name}`;
  if (full.length <= 128) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 16);
  return `${full.slice(0, 128 - 17)}.${hash}`;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Validate a claim; returns the namespace, name, requested and rounded size, and the clone source. */
export function readClaim(claim: ClaimLike): { namespace: string; name: string; requested: number; size: number; source?: string } {
  const name = claim?.metadata?.name;
  const namespace = claim?.metadata?.namespace ?? 'default';
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name)) throw new ProvisionError(`metadata.name "${String(name)}" is not a Kubernetes name`);
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) throw new ProvisionError(`metadata.namespace "${String(namespace)}" is not a Kubernetes namespace name`);
  const storage = claim.spec?.resources?.requests?.storage;
  if (storage === undefined) throw new ProvisionError('spec.resources.requests.storage is required');
  const requested = parseQuantity(storage);
  const ds = claim.spec.dataSource;
  if (ds && (ds.kind !== 'PersistentVolumeClaim' || typeof ds.name !== 'string' || !DNS_SUBDOMAIN.test(ds.name))) {
    throw new ProvisionError('spec.dataSource must be {kind: PersistentVolumeClaim, name: <a claim of the same namespace>}');
  }
  return { namespace, name, requested, size: roundSize(requested), ...(ds ? { source: ds.name } : {}) };
}

export interface RetryOptions {
  /** attempts in all, the first included (default 6) */
  attempts?: number;
  /** first backoff (default 250 ms), doubled each time, capped at maxDelayMs (default 10 s) */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** how long one request may take before it counts as a timeout and is retried (default 30 s) */
  requestTimeoutMs?: number;
  /** called before each wait, for logs */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  sleep?: (ms: number) => Promise<void>;
}

const RETRY_STATUSES = new Set([429, 503, 504]);

/**
 * Run one API call with retries. `call` gets an AbortSignal for the per-request timeout and returns
 * openapi-fetch's result; answers other than 429/503/504 (successes and other errors) are returned as they are.
 */
export async function withRetries<T extends { response: Response }>(call: (signal: AbortSignal) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 6;
  const base = o.baseDelayMs ?? 250;
  const max = o.maxDelayMs ?? 10_000;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    let reason: string;
    let floor = 0;
    try {
      const r = await call(AbortSignal.timeout(o.requestTimeoutMs ?? 30_000));
      if (!RETRY_STATUSES.has(r.response.status)) return r;
      if (attempt >= attempts) return r;
      reason = `HTTP ${r.response.status}`;
      floor = retryAfterMs(r.response.headers.get('retry-after')) ?? 0;
    } catch (e) {
      // fetch failed or timed out: the request may or may not have been carried out; PUT and DELETE are idempotent
      if (attempt >= attempts) throw e;
      reason = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    const backoff = Math.min(max, base * 2 ** (attempt - 1));
    const delayMs = Math.max(floor, Math.round(backoff / 2 + Math.random() * (backoff / 2)));
    o.onRetry?.({ attempt, delayMs, reason });
    await sleep(delayMs);
  }
}

export interface ProvisionerOptions extends RetryOptions {
  baseUrl: string;
  token?: string;
  /** the pool images are made in (default rbd) */
  pool?: string;
  /** an RBD namespace of that pool (optional) */
  rbdNamespace?: string;
  /** image name prefix (default kube) */
  prefix?: string;
  /** features for new images (default: the cluster's) */
  features?: ('layering' | 'exclusive-lock' | 'object-map' | 'fast-diff' | 'deep-flatten')[];
  /** a custom fetch (tests, proxies) */
  fetch?: (input: Request) => Promise<Response>;
  /** flatten clones once made (they then no longer depend on their source's snapshot) */
  flattenClones?: boolean;
}

function fail(what: string, r: { response: Response; error?: unknown }): never {
  const p = r.error as Problem | undefined;
  throw new ProvisionError(`${what}: ${r.response.status} ${p?.code ?? ''} ${p?.detail ?? ''}`.trim(), r.response.status, p);
}

export class Provisioner {
  readonly client: RbdClient;
  readonly pool: string;
  readonly rbdNamespace: string | undefined;

  constructor(private readonly o: ProvisionerOptions) {
    this.client = createRbdClient(o.baseUrl, o.token, o.fetch ? { fetch: o.fetch } : {});
    this.pool = o.pool ?? 'rbd';
    this.rbdNamespace = o.rbdNamespace;
  }

  private volume(image: string, size: number, created: boolean): Volume {
    const spec = this.rbdNamespace ? `${this.pool}/${this.rbdNamespace}` : this.pool;
    return {
      volumeHandle: `${spec}/${image}`, pool: this.pool, ...(this.rbdNamespace ? { namespace: this.rbdNamespace } : {}),
      image, capacityBytes: size, created,
    };
  }

  private get(image: string) {
    return withRetries((signal) => this.rbdNamespace
      ? this.client.GET('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image } }, signal })
      : this.client.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: this.pool, image } }, signal }), this.o);
  }

  /** Make (or confirm) the claim's image. Same claim, same answer: created is true only the first time. */
  async provision(claim: ClaimLike): Promise<Volume> {
    const c = readClaim(claim);
    const image = imageNameFor(c.namespace, c.name, this.o.prefix);
    if (c.source) return this.provisionClone(image, c.size, imageNameFor(c.namespace, c.source, this.o.prefix));
    const body = { size: c.size, ...(this.o.features ? { features: this.o.features } : {}) };
    const r = await withRetries((signal) => this.rbdNamespace
      ? this.client.PUT('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image } }, body, signal })
      : this.client.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: this.pool, image } }, body, signal }), this.o);
    if (r.error || !r.data) fail(`PUT ${image}`, r);
    const img = r.data as Image;
    return this.volume(image, img.size, r.response.status === 201);
  }

  /** The snapshot of a clone's source that the clone `image` is made from: one per clone, so release can remove it. */
  static cloneSnapshotName(image: string): string {
    return `clone-${createHash('sha256').update(image).digest('hex').slice(0, 16)}`;
  }

  private async provisionClone(image: string, size: number, source: string): Promise<Volume> {
    const src = await this.get(source);
    if (src.response.status === 404) throw new ProvisionError(`the clone source has no image ${source}`, 404, src.error as Problem);
    if (src.error || !src.data) fail(`reading clone source ${source}`, src);
    if (src.data.size > size) {
      throw new ProvisionError(`clone source ${source} (${src.data.size} bytes) is larger than the claim (${size} bytes)`, 400);
    }
    const snapshot = Provisioner.cloneSnapshotName(image);
    const snap = await withRetries((signal) => this.rbdNamespace
      ? this.client.PUT('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}/snapshots/{snapshot}', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image: source, snapshot } }, signal })
      : this.client.PUT('/api/v1/pools/{pool}/images/{image}/snapshots/{snapshot}', { params: { path: { pool: this.pool, image: source, snapshot } }, signal }), this.o);
    if (snap.error) fail(`snapshot ${source}@${snapshot}`, snap);
    const body = { source: { image: source, snapshot }, size };
    const r = await withRetries((signal) => this.rbdNamespace
      ? this.client.PUT('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image } }, body, signal })
      : this.client.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: this.pool, image } }, body, signal }), this.o);
    if (r.error || !r.data) fail(`PUT clone ${image} of ${source}@${snapshot}`, r);
    if (this.o.flattenClones && (r.data as Image).parent) await this.flatten(image);
    return this.volume(image, (r.data as Image).size, r.response.status === 201);
  }

  /**
   * Flatten the clone `image` and wait for the task; resolves with the task's id. The Idempotency-Key is the
   * image's (stable across retries and reconciles): every attempt gets the first one's task, as long as the
   * service keeps it (TASK_RETENTION_DAYS) — a retry never sees NOT_A_CLONE for a flatten that went through.
   */
  async flatten(image: string): Promise<string> {
    const header = idempotencyKey(`flatten-${createHash('sha256').update(`${this.pool}/${this.rbdNamespace ?? ''}/${image}`).digest('hex').slice(0, 32)}`);
    const r = await withRetries((signal) => this.rbdNamespace
      ? this.client.POST('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}/flatten', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image }, header }, signal })
      : this.client.POST('/api/v1/pools/{pool}/images/{image}/flatten', { params: { path: { pool: this.pool, image }, header }, signal }), this.o);
    if (r.error || !r.data) fail(`flatten ${image}`, r);
    const task = await this.client.waitForTask(r.data.id);
    if (task.state !== 'succeeded') throw new ProvisionError(`flatten ${image}: task ${task.id} ${task.state} ${task.error?.detail ?? ''}`.trim(), 500);
    return task.id;
  }

  /** Follow a task (the `Link: <…/tasks/{id}>; rel="monitor"` of an answer) until it ends; its final state. */
  private async followTask(response: Response, timeoutMs = 60_000): Promise<string | undefined> {
    const id = /<[^>]*\/tasks\/([^>]+)>;\s*rel="monitor"/.exec(response.headers.get('link') ?? '')?.[1];
    if (!id) return undefined;
    const deadline = Date.now() + timeoutMs;
    for (let wait = 100; Date.now() < deadline; wait = Math.min(wait * 2, 2000)) {
      const t = await withRetries((signal) => this.client.GET('/api/v1/tasks/{id}', { params: { path: { id: decodeURIComponent(id) } }, signal }), this.o);
      const state = t.data?.state;
      if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return state;
      if (t.error) return undefined;
      await new Promise((r) => setTimeout(r, wait));
    }
    return undefined;
  }

  /** Delete the claim's image. True when this call deleted it, false when it was already gone. */
  async release(claim: Pick<ClaimLike, 'metadata'> & { spec?: Partial<ClaimLike['spec']> }): Promise<boolean> {
    const namespace = claim.metadata.namespace ?? 'default';
    const image = imageNameFor(namespace, claim.metadata.name, this.o.prefix);
    const r = await withRetries((signal) => this.rbdNamespace
      ? this.client.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path: { pool: this.pool, namespace: this.rbdNamespace, image } }, signal })
      : this.client.DELETE('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: this.pool, image } }, signal }), this.o);
    let deleted: boolean;
    if (r.response.status === 204) {
      deleted = true;
    } else if (r.response.status === 404 && (r.error as Problem | undefined)?.code === 'IMAGE_NOT_FOUND') {
      deleted = false;
    } else {
      return fail(`DELETE ${image}`, r);
    }
    const source = claim.spec?.dataSource?.name;
    if (source) {
      // a clone: once its removal task is done, the snapshot it was made from has no child left
      if (deleted) await this.followTask(r.response);
      const path = { pool: this.pool, image: imageNameFor(namespace, source, this.o.prefix), snapshot: Provisioner.cloneSnapshotName(image) };
      const s = await withRetries((signal) => this.rbdNamespace
        ? this.client.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}/snapshots/{snapshot}', { params: { path: { ...path, namespace: this.rbdNamespace } }, signal })
        : this.client.DELETE('/api/v1/pools/{pool}/images/{image}/snapshots/{snapshot}', { params: { path }, signal }), this.o);
      if (s.response.status !== 204 && s.response.status !== 404) fail(`DELETE snapshot ${path.image}@${path.snapshot}`, s);
    }
    return deleted;
  }
}
