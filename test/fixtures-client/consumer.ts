// A console program as a user writes it against the packed client (test/integration/client-package.test.ts
// installs the tarball next to it and compiles it with tsc --strict). Prints one JSON line of findings.
import { contentDigest, createRbdClient, RbdApiError, type Download, type Image, type ImportResult, type RetryInfo, type Task } from '@rbd-rest-api/client';

declare const process: { env: Record<string, string | undefined>; exitCode?: number };

const base = process.env.RBD_URL!;
const limitedBase = process.env.RBD_LIMITED_URL!;
const token = process.env.RBD_TOKEN!;
const pool = process.env.RBD_POOL!;
const names = ['cp-a', 'cp-b', 'cp-c', 'cp-d', 'cp-e'];

async function main(): Promise<unknown> {
  const rbd = createRbdClient(base, token);
  // creates: without Prefer the API promises the full image, and the type says Image (no union)
  const created: Image[] = [];
  for (const image of names) {
    const put = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool, image } }, body: { size: '4MiB' } });
    if (put.error) throw new Error(`PUT ${image}: ${put.response.status} ${put.error.code}`);
    const full: Image = put.data;
    created.push(full);
  }
  const minimal = createRbdClient(base, token, { prefer: 'minimal' });
  const small = await minimal.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool, image: 'cp-min' } }, body: { size: '1MiB' } });
  const smallKeys = small.data ? Object.keys(small.data).sort() : [];

  // pages: limit 2 over 6 images
  const pages: string[][] = [];
  for await (const page of rbd.pages('/api/v1/pools/{pool}/images', { params: { path: { pool }, query: { limit: 2 } } })) {
    pages.push(page.items.map((i) => i.name));
  }
  const items: string[] = [];
  for await (const item of rbd.items('/api/v1/pools/{pool}/images', { params: { path: { pool }, query: { limit: 4, details: 'true' } } })) {
    items.push(`${item.name}:${item.size ?? '?'}`);
  }
  let missing = '';
  try {
    for await (const page of rbd.pages('/api/v1/pools/{pool}/images', { params: { path: { pool: `${pool}-no-such-pool` } } })) void page;
  } catch (e) {
    missing = e instanceof RbdApiError ? `${e.status} ${e.code ?? ''}` : String(e);
  }

  // a real task: copy an image, then wait for it over the event stream with the Authorization header
  const copy = await rbd.POST('/api/v1/pools/{pool}/images/{image}/copy', { params: { path: { pool, image: 'cp-a' } }, body: { destination: { name: 'cp-copy' } } });
  if (copy.error) throw new Error(`copy: ${copy.response.status} ${copy.error.code}`);
  const seen: string[] = [];
  const done: Task = await rbd.waitForTask(copy.data.id, { onProgress: (t) => seen.push(`${t.state}:${t.progress}`) });
  const copied = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool, image: 'cp-copy' } } });
  // a signal stops the wait
  const controller = new AbortController();
  controller.abort(new Error('stopped by the console'));
  const aborted = await rbd.waitForTask(copy.data.id, { signal: controller.signal }).then(() => 'resolved', (e: Error) => e.message);
  const unknownTask = await rbd.waitForTask('1-zzzzzzzzz-00000000').then(() => 'resolved', (e: unknown) => (e instanceof RbdApiError ? `${e.status} ${e.code ?? ''}` : String(e)));

  // content: bytes uploaded with their digest become an image; downloaded back whole, and a range of them
  const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 7919) % 251);
  const up: ImportResult = await rbd.upload({ pool, image: 'cp-up' }, bytes, { digest: await contentDigest(bytes) });
  const down: Download = await rbd.download({ pool, image: 'cp-up' });
  const got = new Uint8Array(await new Response(down.body).arrayBuffer());
  const same = got.length === bytes.length && got.every((b, i) => b === bytes[i]);
  const part = await rbd.download({ pool, image: 'cp-up' }, { range: { start: 10, end: 19 } });
  const partBytes = Array.from(new Uint8Array(await new Response(part.body).arrayBuffer()));
  const badDigest = await rbd.upload({ pool, image: 'cp-bad' }, bytes, { digest: await contentDigest(new Uint8Array(1)) })
    .then(() => 'resolved', (e: unknown) => (e instanceof RbdApiError ? `${e.status} ${e.code ?? ''}` : String(e)));
  const content = {
    up: [up.name, up.size, up.digest?.startsWith('sha-256=:') ?? false], down: [down.status, down.length, same],
    part: [part.status, part.range, part.size, partBytes.join(',') === Array.from(bytes.subarray(10, 20)).join(',')], badDigest,
  };

  // retries: a replica limited to 1 request per second; the first call takes the token, the next is 429
  const retries: RetryInfo[] = [];
  const patient = createRbdClient(limitedBase, token, { retry: { onRetry: (r) => retries.push(r) } });
  const impatient = createRbdClient(limitedBase, token);
  const first = await impatient.GET('/api/v1/pools/{pool}', { params: { path: { pool } } });
  const refused = await impatient.GET('/api/v1/pools/{pool}', { params: { path: { pool } } });
  const started = Date.now();
  const retried = await patient.GET('/api/v1/pools/{pool}', { params: { path: { pool } } });
  const waitedMs = Date.now() - started;

  return {
    created: created.map((c) => [c.name, c.size, Array.isArray(c.features)]),
    smallStatus: small.response.status, smallKeys,
    pages, items, missing,
    task: { state: done.state, action: done.action, progress: done.progress, seen }, copied: copied.data?.size ?? null,
    aborted, unknownTask, content,
    limited: [first.response.status, refused.response.status, refused.response.headers.get('retry-after'), retried.response.status],
    retries: retries.map((r) => ({ attempt: r.attempt, status: r.status, retryAfter: r.retryAfter, delayMs: r.delayMs })), waitedMs,
  };
}

main().then((r) => console.log(JSON.stringify(r)), (e: unknown) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exitCode = 1;
});
