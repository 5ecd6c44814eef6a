// A request must arrive whole — headers and body — within REQUEST_DEADLINE_MS (30 s) of its start (until its body
// is parsed: what the route does after that has no deadline here), against
// clients that trickle a small body; an upload of an image legitimately takes longer and is exempt (its own idle
// timeout, IMPORT_IDLE_MS, drops a body that sends nothing). Node's `requestTimeout` has no per-request switch,
// so this deadline is kept here: Node's own is off (app.ts: requestTimeout 0; headers keep Node's
// headersTimeout), and a request whose body is still arriving at its deadline gets what Node's expiry does —
// `clientError` with ERR_HTTP_REQUEST_TIMEOUT on the server for its socket (plugins/problems.ts answers 408 and
// the audit plugin writes the line).
//
// Why not exempt uploads from Node's check: the only way in (clearing the HTTP parser's `socket`) also cut
// the parser's back-pressure — Node pauses a socket whose request stream is full through `parser.socket` —
// so an upload was read from the network as fast as the client sent it and buffered in memory while the
// cluster took it more slowly (measured: single pieces of 47 MB, 360 MiB of buffers for one 512 MiB upload).
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const REQUEST_DEADLINE_MS = 30_000;

const deadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/** This request's body may take as long as it needs (an upload: its own idle timeout applies). */
export function exemptFromRequestTimeout(raw: IncomingMessage): void {
  clearTimeout(deadlines.get(raw));
  deadlines.delete(raw);
}

async function requestDeadline(app: FastifyInstance, opts: { deadlineMs?: number }): Promise<void> {
  const ms = opts.deadlineMs ?? REQUEST_DEADLINE_MS;
  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.complete) return;
    const timer = setTimeout(() => {
      deadlines.delete(raw);
      const socket = raw.socket as Partial<import('node:net').Socket> | null;
      // a request injected in-process (light-my-request) has no network socket to time out
      if (raw.complete || !socket || socket.destroyed || typeof socket.destroy !== 'function') return;
      app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    }, ms);
    timer.unref();
    deadlines.set(raw, timer);
    raw.once('close', () => exemptFromRequestTimeout(raw));
  });
  // the body has arrived once it is parsed (preValidation runs after the content-type parser): a route that
  // then runs long (a lock wait, a slow cluster) is not a request that failed to arrive
  app.addHook('preValidation', async (req) => { exemptFromRequestTimeout(req.raw); });
  app.addHook('onResponse', async (req) => { exemptFromRequestTimeout(req.raw); });
}

export const requestDeadlinePlugin = fp(requestDeadline, { name: 'rbd-request-deadline', fastify: '5.x' });
