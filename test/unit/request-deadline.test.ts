// plugins/request-deadline.ts: a request must arrive whole within its deadline (408 through Node's clientError
// path), an upload exempt from it keeps Node's back-pressure — its body is read from the socket only as fast as
// the route consumes it (the exemption it replaced cut the parser's link to the socket: a slow consumer then
// got the upload in pieces of tens of MB, all of it buffered in memory).
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exemptFromRequestTimeout, requestDeadlinePlugin } from '../../src/http/plugins/request-deadline.js';

let app: FastifyInstance;
let port: number;
let maxPiece = 0;

beforeAll(async () => {
  app = Fastify({
    requestTimeout: 0,
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      socket.end(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
        : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    },
  });
  await app.register(requestDeadlinePlugin, { deadlineMs: 300 });
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  app.post('/small', async (req) => ({ got: req.body }));
  // a route that runs past the deadline after its body arrived (a lock wait, a slow cluster)
  app.post('/slow', async (req) => { await new Promise((r) => setTimeout(r, 700)); return { got: req.body }; });
  app.get('/slow', async () => { await new Promise((r) => setTimeout(r, 700)); return { ok: true }; });
  app.put('/upload', { onRequest: async (req) => exemptFromRequestTimeout(req.raw) }, async (req) => {
    let bytes = 0;
    for await (const piece of (req.body as NodeJS.ReadableStream & { iterator(o: object): AsyncIterable<Buffer> }).iterator({ destroyOnReturn: false })) {
      bytes += piece.length;
      maxPiece = Math.max(maxPiece, piece.length);
      await new Promise((r) => setTimeout(r, 1)); // a consumer slower than loopback (a cluster taking writes)
    }
    return { bytes };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(() => app.close());

/** Send `head` and `body` on a fresh connection; resolves with everything the server answered. */
function exchange(head: string, body?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let answer = '';
    s.on('data', (d) => { answer += d.toString(); });
    s.on('close', () => resolve(answer));
    s.on('error', reject);
    s.write(head);
    if (body) s.write(body);
  });
}

describe('request deadline', () => {
  it('a body still arriving at the deadline: 408, the connection closed', async () => {
    const answer = await exchange('POST /small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"a":');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a request that arrives whole in time is answered', async () => {
    const r = await app.inject({ method: 'POST', url: '/small', payload: { a: 1 } });
    expect(r.statusCode).toBe(200);
  });

  it('a route that runs past the deadline once its body arrived is answered, not 408 (a real socket, and injected)', async () => {
    const answer = await exchange('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const errors: unknown[] = [];
    const onError = (e: unknown) => { errors.push(e); };
    process.on('uncaughtException', onError);
    try {
      // an injected request has no network socket: the deadline never fires on it (it used to throw from its timer)
      const [post, get] = await Promise.all([
        app.inject({ method: 'POST', url: '/slow', payload: { a: 1 } }),
        app.inject({ method: 'GET', url: '/slow' }),
      ]);
      expect([post.statusCode, get.statusCode]).toEqual([200, 200]);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
  });

  it('an exempt upload outlives the deadline and is read no faster than it is consumed', async () => {
    const size = 48 << 20;
    const answer = await exchange(`PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
      Buffer.alloc(size, 7));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain(`{"bytes":${size}}`);
    // with back-pressure a read hands over at most what the stream buffers (16 KiB) plus one socket read (64 KiB)
    expect(maxPiece).toBeLessThanOrEqual(256 << 10);
  }, 60_000);
});
