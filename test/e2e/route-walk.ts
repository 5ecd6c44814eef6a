// The API contract, one call (at least) per documented operation: a walk through every route of
// openapi/openapi.json over HTTP, each answer checked against the document (status documented for the
// operation, media type, body schema: test/helpers/contract.ts) and against the status the step expects.
// The image-level steps run twice, in the pool's default namespace and in a namespace, which covers the
// `…InNamespace` twins. Used for the version matrix (README "Supported Ceph releases"):
//   - test/integration/contract-matrix.test.ts: the service in process, on this machine's Ceph 16 (Pacific)
//     libraries, against the host's Pacific test cluster;
//   - test/e2e/container.test.ts: the service image (Ceph 20 Tentacle libraries) against a Tentacle cluster.
// A walk fails when an operation of the document has no step (a route added later needs one here).
import { checkAnswer } from '../helpers/contract.js';
import { documentedRoutes } from '../helpers/openapi-routes.js';

export interface WalkOptions {
  base: string;
  token?: string | undefined;
  /** a pool name of its own (created and deleted by the walk) */
  pool: string;
  /** per-call timeout, ms */
  timeoutMs?: number;
}

export interface WalkStep { operation: string; status: number; ms: number }
export interface WalkResult {
  steps: WalkStep[];
  /** "GET /api/v1/pools/{pool}" for every operation a step called */
  covered: Set<string>;
  /** documented operations no step called */
  missing: string[];
  /** what GET /api/v1/cluster answered */
  cluster: Record<string, unknown>;
}

type Json = Record<string, unknown>;

export async function walkRoutes(opts: WalkOptions): Promise<WalkResult> {
  const steps: WalkStep[] = [];
  const covered = new Set<string>();
  const headers = (extra: Record<string, string> = {}): Record<string, string> =>
    ({ ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...extra });

  /** One call: template + values → URL; the answer checked against the document and `expect`. */
  async function call(method: string, template: string, values: Record<string, string>, expect: number | number[],
    body?: unknown, query = '', raw?: { type: string; data: Blob }): Promise<{ status: number; json: Json; headers: Headers }> {
    const path = template.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(values[k] ?? `<${k}?>`));
    const t0 = Date.now();
    const r = await fetch(`${opts.base}${path}${query}`, {
      method,
      headers: headers(raw ? { 'content-type': raw.type } : body === undefined ? {} : { 'content-type': 'application/json' }),
      body: raw ? raw.data : body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
    });
    const operation = `${method} ${template}`;
    steps.push({ operation, status: r.status, ms: Date.now() - t0 });
    covered.add(operation);
    const wanted = Array.isArray(expect) ? expect : [expect];
    const text = await r.clone().text();
    if (!wanted.includes(r.status)) throw new Error(`${operation} (${path}${query}): ${r.status}, expected ${wanted.join(' or ')}: ${text.slice(0, 400)}`);
    if (template.endsWith('/events')) {
      // an event stream (it ends with the task): no JSON body to check against a schema
      const type = r.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || !/^event: /m.test(text)) throw new Error(`${operation}: ${type}, ${text.slice(0, 200)}`);
      return { status: r.status, json: {}, headers: r.headers };
    }
    await checkAnswer(method, template, r);
    let json: Json = {};
    if (text && (r.headers.get('content-type') ?? '').includes('json')) json = JSON.parse(text) as Json;
    return { status: r.status, json, headers: r.headers };
  }

  /** Poll GET /api/v1/tasks/{id} until the task ends; it must succeed. */
  async function waitTask(id: string, timeoutMs = 120_000): Promise<Json> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { json } = await call('GET', '/api/v1/tasks/{id}', { id }, 200);
      if (['succeeded', 'failed', 'cancelled'].includes(String(json.state))) {
        if (json.state !== 'succeeded') throw new Error(`task ${id} (${String(json.action)}) ended ${String(json.state)}: ${JSON.stringify(json.error)}`);
        return json;
      }
      if (Date.now() > until) throw new Error(`task ${id} still ${String(json.state)} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const P = opts.pool;
  const NS = 'walk-ns';
  await call('GET', '/healthz', {}, 200);
  await call('GET', '/readyz', {}, 200);
  const cluster = (await call('GET', '/api/v1/cluster', {}, 200)).json;

  await call('POST', '/api/v1/pools', {}, 201, { name: P, pgNum: 8 });
  try {
    await call('GET', '/api/v1/pools', {}, 200);
    await call('GET', '/api/v1/pools/{pool}', { pool: P }, 200);
    await call('PUT', '/api/v1/pools/{pool}/namespaces/{namespace}', { pool: P, namespace: NS }, 201);
    await call('GET', '/api/v1/pools/{pool}/namespaces', { pool: P }, 200);
    await call('GET', '/api/v1/pools/{pool}/namespaces/{namespace}', { pool: P, namespace: NS }, 200);

    for (const ns of [undefined, NS]) {
      const S = ns === undefined ? '/api/v1/pools/{pool}' : '/api/v1/pools/{pool}/namespaces/{namespace}';
      const v = (more: Record<string, string> = {}): Record<string, string> => ({ pool: P, ...(ns === undefined ? {} : { namespace: ns }), ...more });
      const img = (image: string): Record<string, string> => v({ image });
      const I = `${S}/images/{image}`;

      await call('POST', `${S}/images`, v(), 201, { name: 'a', size: '8MiB' });
      await call('PUT', I, img('b'), 201, { size: '8MiB' });
      await call('GET', `${S}/images`, v(), 200);
      await call('GET', I, img('a'), 200);
      await call('PATCH', I, img('a'), 200, { size: '16MiB' });
      // an upload: a raw body becomes a new image
      await call('PUT', `${I}/content`, img('up'), 201, undefined, '', { type: 'application/octet-stream', data: new Blob([new Uint8Array(1 << 20).fill(7)]) });
      // and downloads: the bytes back, then the changed extents since a snapshot (after the snapshots below)
      const down = await call('GET', `${I}/content`, img('up'), 200);
      if (Number(down.headers.get('content-length')) !== 1 << 20) throw new Error(`download: ${down.headers.get('content-length')} bytes`);

      await call('PUT', `${I}/metadata/{key}`, { ...img('a'), key: 'walk' }, 201, { value: 'v1' });
      await call('GET', `${I}/metadata`, img('a'), 200);
      await call('GET', `${I}/metadata/{key}`, { ...img('a'), key: 'walk' }, 200);
      await call('DELETE', `${I}/metadata/{key}`, { ...img('a'), key: 'walk' }, 204);
      await call('GET', `${I}/config`, img('a'), 200);
      await call('PUT', `${I}/qos`, img('a'), 200, { iopsLimit: 1000, bpsLimit: '100MiB' });
      await call('GET', `${I}/qos`, img('a'), 200);
      await call('DELETE', `${I}/qos`, img('a'), 204);
      // pool QoS: set on the pool; a namespace has none of its own in librbd (501)
      await call('PUT', `${S}/qos`, v(), ns === undefined ? 200 : 501, { iopsLimit: 5000 });
      await call('GET', `${S}/qos`, v(), 200);
      await call('DELETE', `${S}/qos`, v(), ns === undefined ? 204 : 501);
      await call('GET', `${I}/usage`, img('a'), 200);
      await call('GET', `${I}/iostat`, img('a'), 200);
      await call('GET', `${S}/iostat`, v(), 200);
      // locks (none held: nothing to fence) and a sparsify task
      await call('GET', `${I}/locks`, img('a'), 200);
      await call('DELETE', `${I}/locks`, img('a'), 200, undefined, '?confirm=a');
      const sparsify = await call('POST', `${I}/sparsify`, img('up'), 202, { sparseSize: 4096 });
      await waitTask(String(sparsify.json.id));

      // mirroring without a peer: the pool (namespace) mode, an image's role and mirror snapshots, schedules
      if (ns === undefined) {
        await call('POST', '/api/v1/pools/{pool}/mirroring/bootstrap-token', { pool: P }, 409); // MIRRORING_DISABLED
        await call('POST', '/api/v1/pools/{pool}/mirroring/peers', { pool: P }, 400, { token: 'not-a-token' });
      }
      await call('GET', `${S}/mirroring`, v(), 200);
      await call('PUT', `${S}/mirroring`, v(), 200, { mode: 'image' });
      await call('PUT', I, img('m'), 201, { size: '1MiB' });
      await call('POST', `${I}/mirroring/promote`, img('m'), 409); // MIRRORING_DISABLED
      await call('PUT', `${I}/mirroring`, img('m'), 200, { enabled: true, mode: 'snapshot' });
      await call('GET', `${I}/mirroring`, img('m'), 200);
      await call('GET', `${S}/images`, v(), 200, undefined, '?mirroring=enabled');
      await call('POST', `${I}/mirroring/snapshots`, img('m'), 409); // MIRROR_NO_PEERS
      await call('POST', `${I}/mirroring/promote`, img('m'), 409); // MIRROR_IMAGE_PRIMARY
      await call('POST', `${I}/mirroring/resync`, img('m'), 409); // a primary is not resynced
      await call('POST', `${I}/mirroring/demote`, img('m'), 200);
      await call('POST', `${I}/mirroring/promote`, img('m'), 200); // no peer: its own demotion is the last word
      await call('POST', `${I}/mirroring/schedules`, img('m'), 201, { interval: '1h' });
      await call('GET', `${I}/mirroring/schedules`, img('m'), 200);
      await call('DELETE', `${I}/mirroring/schedules/{interval}`, { ...img('m'), interval: '1h' }, 204);
      await call('POST', `${S}/mirroring/schedules`, v(), 201, { interval: '1d' });
      await call('GET', `${S}/mirroring/schedules`, v(), 200);
      await call('DELETE', `${S}/mirroring/schedules/{interval}`, v({ interval: '1d' }), 204);
      await call('GET', `${S}/mirroring/status`, v(), 200);
      await call('PUT', `${I}/mirroring`, img('m'), 200, { enabled: false });
      if (ns === undefined) {
        await call('GET', '/api/v1/pools/{pool}/mirroring/peers', { pool: P }, 200);
        const none = { pool: P, uuid: '00000000-0000-0000-0000-000000000000' };
        await call('GET', '/api/v1/pools/{pool}/mirroring/peers/{uuid}', none, 404);
        await call('DELETE', '/api/v1/pools/{pool}/mirroring/peers/{uuid}', none, 404);
      } else {
        await call('PUT', `${S}/mirroring`, v(), 200, { mode: 'disabled' });
      }

      await call('POST', `${I}/snapshots`, img('a'), 201, { name: 's1' });
      await call('PUT', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's2' }, 201);
      await call('GET', `${I}/snapshots`, img('a'), 200);
      await call('GET', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's1' }, 200);
      await call('PATCH', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's1' }, 200, { protected: true });
      await call('GET', `${I}/diff`, img('a'), 200, undefined, '?fromSnapshot=s1');

      // a clone of s1, flattened in a task (followed on the event stream too)
      await call('POST', `${S}/images`, v(), 201, { name: 'c', source: { image: 'a', snapshot: 's1' } });
      await call('GET', `${I}/children`, img('a'), 200);
      await call('GET', `${I}/descendants`, img('a'), 200);
      await call('PATCH', I, img('a'), 200, { snapshotLimit: 10 });
      const flatten = await call('POST', `${I}/flatten`, img('c'), 202);
      const flattenId = String(flatten.json.id);
      await call('GET', '/api/v1/tasks/{id}/events', { id: flattenId }, 200);
      await waitTask(flattenId);
      await call('DELETE', '/api/v1/tasks/{id}', { id: flattenId }, [204, 409]);

      const rollback = await call('POST', `${I}/snapshots/{snapshot}/rollback`, { ...img('a'), snapshot: 's2' }, 202, undefined, '?confirm=a');
      await waitTask(String(rollback.json.id));
      const copy = await call('POST', `${I}/copy`, img('a'), 202, { destination: { name: 'a-copy' } });
      await waitTask(String(copy.json.id));

      // live migration of the copy to a new name: prepared + executed, read, aborted; again, then committed
      const migrate = () => call('POST', `${I}/migration`, img('a-copy'), 202, { destination: { name: 'a-moved' } });
      await waitTask(String((await migrate()).json.id));
      await call('GET', `${I}/migration`, img('a-moved'), 200);
      await call('POST', `${I}/migration/execute`, img('a-moved'), 409); // executed already: MIGRATION_STATE_CONFLICT
      await waitTask(String((await call('POST', `${I}/migration/abort`, img('a-moved'), 202)).json.id));
      await waitTask(String((await migrate()).json.id));
      await waitTask(String((await call('POST', `${I}/migration/commit`, img('a-moved'), 202)).json.id));
      // an import from a URL the service refuses before anything is made (a walk has no HTTP server to offer)
      await call('POST', `${S}/image-imports`, v(), 400, { name: 'imported', source: { url: 'ftp://127.0.0.1/disk.raw', format: 'raw' } });

      await call('PATCH', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's1' }, 200, { protected: false });
      await call('DELETE', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's1' }, 204);
      await call('DELETE', `${I}/snapshots/{snapshot}`, { ...img('a'), snapshot: 's2' }, 204);

      // the trash: keep b there, read it, restore it, move it again, remove it in a task; purge
      await call('DELETE', I, img('b'), 204, undefined, '?keepFor=1h');
      const trash = await call('GET', `${S}/trash`, v(), 200);
      const entry = (trash.json.items as { id: string; name: string }[]).find((e) => e.name === 'b');
      if (!entry) throw new Error(`image b is not in the trash of ${JSON.stringify(v())}`);
      await call('GET', `${S}/trash/{id}`, v({ id: entry.id }), 200);
      await call('POST', `${S}/trash/{id}/restore`, v({ id: entry.id }), 201, {});
      await call('DELETE', I, img('b'), 204, undefined, '?keepFor=1h');
      const removal = await call('DELETE', `${S}/trash/{id}`, v({ id: entry.id }), 202, undefined, '?force=true');
      await waitTask(String(removal.json.id));
      const purge = await call('POST', `${S}/trash/purge`, v(), 202);
      await waitTask(String(purge.json.id));

      // schedules: set (201), replace (200), read and remove each kind; daily, so nothing runs during the walk
      // (what the scheduler does: test/integration/schedules.test.ts)
      const daily = { every: '1d', at: '03:00', keep: { daily: 7, latest: 1 }, timezone: 'UTC' };
      for (const [path, values] of [[`${S}/snapshot-schedule`, v()], [`${I}/snapshot-schedule`, img('a')]] as const) {
        await call('PUT', path, values, 201, daily);
        await call('PUT', path, values, 200, { ...daily, keep: { daily: 14 } });
        await call('GET', path, values, 200);
        await call('DELETE', path, values, 204);
      }
      await call('PUT', `${S}/trash/purge-schedule`, v(), 201, { every: '1d' });
      await call('GET', `${S}/trash/purge-schedule`, v(), 200);
      await call('DELETE', `${S}/trash/purge-schedule`, v(), 204);

      for (const name of ['a', 'a-moved', 'c', 'up', 'm']) {
        // 204 once in the trash; its removal is a task (Link: rel="monitor"), finished before the namespace goes
        const gone = await call('DELETE', I, img(name), 204);
        const id = /<\/api\/v1\/tasks\/([^>]+)>;\s*rel="monitor"/.exec(gone.headers.get('link') ?? '')?.[1];
        if (!id) throw new Error(`DELETE of ${name}: no monitor link (${gone.headers.get('link')})`);
        await waitTask(decodeURIComponent(id));
      }
    }
    await call('GET', '/api/v1/tasks', {}, 200);
    // a namespace with an image in it, removed with everything in it (the namespace.purge task)
    await call('PUT', '/api/v1/pools/{pool}/namespaces/{namespace}', { pool: P, namespace: 'walk-purge' }, 201);
    await call('PUT', '/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { pool: P, namespace: 'walk-purge', image: 'x' }, 201, { size: '1MiB' });
    const purge = await call('DELETE', '/api/v1/pools/{pool}/namespaces/{namespace}', { pool: P, namespace: 'walk-purge' }, 202, undefined,
      '?force=true&confirm=walk-purge');
    await waitTask(String(purge.json.id));
    await call('DELETE', '/api/v1/pools/{pool}/namespaces/{namespace}', { pool: P, namespace: NS }, 204);
  } finally {
    await call('DELETE', '/api/v1/pools/{pool}', { pool: P }, 204, undefined, `?confirm=${encodeURIComponent(P)}&force=true`);
  }

  const missing = documentedRoutes().map((r) => `${r.method.toUpperCase()} ${r.template}`).filter((op) => !covered.has(op));
  return { steps, covered, missing, cluster };
}
