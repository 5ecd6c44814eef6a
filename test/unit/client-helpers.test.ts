// The client's helpers without a service: retries (Retry-After in seconds and as a date, 504 only for methods
// safe to repeat, a wait longer than allowed not made, the body sent again), the event-stream parser (events
// split across chunks, CRLF, comments), waitForTask resuming a stream cut before the task ended, pages
// following nextCursor until it is null, and the package versioned with the service.
import { describe, expect, it } from 'vitest';
import { createRbdClient, retryAfterMs, retryingFetch, sseEvents, type Task } from '../../client/index.js';
import { waitForTask } from '../../client/tasks.js';

const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: 'about:blank', title: code, status, detail: code, code }), { status, headers: { 'content-type': 'application/problem+json', ...headers } });

const stream = (chunks: string[]) => new ReadableStream<Uint8Array>({
  start(c) { for (const s of chunks) c.enqueue(new TextEncoder().encode(s)); c.close(); },
});

const task = (state: Task['state'], progress: number): Task => ({
  id: '1-abcdefghi-0123abcd', action: 'image.copy', target: { pool: 'p', namespace: '', image: 'i' }, state, progress, createdAt: new Date(0).toISOString(),
});
const event = (t: Task) => `event: task\ndata: ${JSON.stringify(t)}\n\n`;

describe('retryingFetch', () => {
  it('retries 429 after Retry-After with the body sent again, then returns the success', async () => {
    const seen: { body: string; at: number }[] = [];
    const answers = [problem(429, 'RATE_LIMITED', { 'retry-after': '0' }), problem(503, 'CEPH_BUSY'), new Response('{}', { status: 201 })];
    const f = retryingFetch(async (r) => { seen.push({ body: await r.text(), at: Date.now() }); return answers.shift()!; }, { baseDelayMs: 20 });
    const r = await f(new Request('http://x/a', { method: 'POST', body: '{"name":"a"}' }));
    expect(r.status).toBe(201);
    expect(seen.map((s) => s.body)).toEqual(['{"name":"a"}', '{"name":"a"}', '{"name":"a"}']);
    expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(15); // no Retry-After: the backoff (20 ms × 2^1)
  });

  it('504 is retried for PUT, not for POST; a Retry-After over maxDelayMs is not waited for; retries run out', async () => {
    let calls = 0;
    const timeout = retryingFetch(async () => { calls++; return problem(504, 'CEPH_TIMEOUT'); }, { retries: 2, baseDelayMs: 1 });
    expect((await timeout(new Request('http://x/a', { method: 'POST', body: '{}' }))).status).toBe(504);
    expect(calls).toBe(1);
    expect((await timeout(new Request('http://x/a', { method: 'PUT', body: '{}' }))).status).toBe(504);
    expect(calls).toBe(1 + 3);
    calls = 0;
    const far = retryingFetch(async () => { calls++; return problem(503, 'SHUTTING_DOWN', { 'retry-after': '120' }); }, { maxDelayMs: 1000 });
    expect((await far(new Request('http://x/a'))).status).toBe(503);
    expect(calls).toBe(1);
  });

  it('a signal aborts the wait', async () => {
    const f = retryingFetch(async () => problem(429, 'RATE_LIMITED', { 'retry-after': '30' }));
    const c = new AbortController();
    setTimeout(() => c.abort(new Error('gave up')), 20);
    await expect(f(new Request('http://x/a', { signal: c.signal }))).rejects.toThrow('gave up');
  });

  it('Retry-After: seconds, an HTTP date, nonsense', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});

describe('event stream', () => {
  it('parses events split across chunks, with CRLF, comments and multi-line data', async () => {
    const got: { event: string; data: string }[] = [];
    for await (const e of sseEvents(stream(['id: 1\r\nevent: ta', 'sk\r\ndata: {"a"', ':1}\r\n\r\n: keep-alive\n\n', 'data: x\ndata: y\n\n']))) got.push(e);
    expect(got).toEqual([{ event: 'task', data: '{"a":1}' }, { event: 'message', data: 'x\ny' }]);
  });

  it('waitForTask resumes a stream cut before the end, and a 503, sending the token each time', async () => {
    const auth: (string | null)[] = [];
    const answers = [
      new Response(stream([event(task('running', 0.2))]), { headers: { 'content-type': 'text/event-stream' } }),
      problem(503, 'CEPH_BUSY', { 'retry-after': '0' }),
      new Response(stream([event(task('running', 0.5)), event(task('succeeded', 1))]), { headers: { 'content-type': 'text/event-stream' } }),
    ];
    const fetch = async (r: Request) => { auth.push(r.headers.get('authorization')); return answers.shift()!; };
    const progress: number[] = [];
    const done = await waitForTask({ baseUrl: 'http://x', headers: new Headers({ authorization: 'Bearer t' }), fetch }, '1-abcdefghi-0123abcd',
      { onProgress: (t) => progress.push(t.progress) });
    expect(done.state).toBe('succeeded');
    expect(progress).toEqual([0.2, 0.5, 1]);
    expect(auth).toEqual(['Bearer t', 'Bearer t', 'Bearer t']);
  });

  it('waitForTask gives up after maxReconnects streams without news; a 404 is thrown at once', async () => {
    let calls = 0;
    const empty = async () => { calls++; return new Response(stream([': keep-alive\n\n']), { headers: { 'content-type': 'text/event-stream' } }); };
    await expect(waitForTask({ baseUrl: 'http://x', headers: new Headers(), fetch: empty }, 'id', { maxReconnects: 1 })).rejects.toThrow(/ended 2 times/);
    expect(calls).toBe(2);
    const missing = async () => problem(404, 'TASK_NOT_FOUND');
    await expect(waitForTask({ baseUrl: 'http://x', headers: new Headers(), fetch: missing }, 'id')).rejects.toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
  });
});

describe('pages', () => {
  it('follows nextCursor until it is null, keeping the query', async () => {
    const urls: string[] = [];
    const body = [{ items: [{ name: 'a' }], nextCursor: 'c1' }, { items: [{ name: 'b' }], nextCursor: null }];
    const rbd = createRbdClient('http://x/', 't', {
      fetch: async (r) => { urls.push(r.url); return new Response(JSON.stringify(body.shift()), { headers: { 'content-type': 'application/json' } }); },
    });
    const names: string[] = [];
    for await (const i of rbd.items('/api/v1/pools/{pool}/images', { params: { path: { pool: 'p' }, query: { limit: 1 } } })) names.push(i.name);
    expect(names).toEqual(['a', 'b']);
    expect(urls).toEqual(['http://x/api/v1/pools/p/images?limit=1', 'http://x/api/v1/pools/p/images?limit=1&cursor=c1']);
  });

  it('a client with Prefer: return=minimal in its headers must say so with prefer: "minimal"', () => {
    expect(() => createRbdClient('http://x', 't', { headers: { prefer: 'return=minimal' } })).toThrow(/prefer: 'minimal'/);
    expect(() => createRbdClient('http://x', 't', { prefer: 'minimal' })).not.toThrow();
  });
});

describe('the package', () => {
  it('is versioned with the service and the API document it types', async () => {
    const { readFileSync } = await import('node:fs');
    const read = (f: string) => JSON.parse(readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8')) as { version?: string; info?: { version: string } };
    const service = read('package.json').version;
    expect(read('client/package.json').version).toBe(service);
    expect(read('openapi/openapi.json').info?.version).toBe(service);
  });
});
