// Audit lines for the mutations no route hook sees (plugins/audit.ts writes the others in onResponse):
//   - refused before routing: a path whose percent-encoding is not UTF-8 (400) or with a segment over 4096
//     characters (414) — Fastify's frameworkErrors; a request Node cannot parse (431 headers too large, 400) —
//     Node's clientError. plugins/problems.ts answers those and calls `auditUnrouted`;
//   - whose body never arrived whole, routed and waiting for it: Node's clientError again — the request timed out
//     (408), or the client closed the connection mid-body (Node's parser error on the early end: 400
//     MALFORMED_REQUEST, which the client never reads). The routed request's onResponse, if it comes, finds the
//     line written (plugins/audit.ts `audited`).
// Each gets one line like every other request line: the action and target of the route the path would have
// matched (an undecodable part as sent, long ones cut to 256 characters), the principal when the request
// carried a valid token, the status and code it was answered with.
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { bearerToken, type TokenStore } from '../auth.js';
import { auditAction, audited, auditTarget, MUTATING, pathOf, resultOf, type AuditRequestLine } from './audit.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** with an audit trail: the line for a request refused before routing (no hook runs for it) */
    auditUnrouted?: (r: UnroutedRequest) => void;
  }
}

/** A request answered outside the routes, as plugins/problems.ts saw it. */
export interface UnroutedRequest {
  requestId: string;
  method: string;
  /** the URL as sent (percent-encoded) */
  url: string;
  source: string;
  status: number;
  code: string;
  authorization?: string | undefined;
  /** Node's request, when there is one (a timed-out body): it gets one line, however many paths see it end */
  raw?: IncomingMessage | undefined;
}

/** path segments of a URL as sent, each decoded where it can be (else kept as sent), cut to 256 characters */
function rawSegments(url: string): string[] {
  return url.split('?')[0]!.split('/').filter(Boolean).map((seg) => {
    let v = seg;
    try { v = decodeURIComponent(seg); } catch { /* not UTF-8: as sent */ }
    return v.length > 256 ? `${v.slice(0, 256)}…` : v;
  });
}

async function refusalAudit(app: FastifyInstance, { audit, tokens }: { audit: Logger; tokens?: TokenStore | undefined }): Promise<void> {
  // every route's template, to name what a request refused before routing was aimed at
  const routes: { methods: string[]; template: string; segments: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    routes.push({
      methods: (Array.isArray(route.method) ? route.method : [route.method]).map(String),
      template: route.url, segments: route.url.split('/').filter(Boolean),
    });
  });
  const write = (line: AuditRequestLine): void => {
    audit.info(line, `${line.action} ${line.target ?? line.path} ${line.outcome.status}`);
  };

  app.decorate('auditUnrouted', (r: UnroutedRequest): void => {
    if (!MUTATING.has(r.method) || (r.raw && audited.has(r.raw))) return;
    if (r.raw) audited.add(r.raw);
    const segments = rawSegments(r.url);
    const route = routes.find((rt) => rt.methods.includes(r.method) && rt.segments.length === segments.length
      && rt.segments.every((s, i) => s.startsWith(':') || s === segments[i]));
    const params = Object.fromEntries((route?.segments ?? []).flatMap((s, i) => (s.startsWith(':') ? [[s.slice(1), segments[i]!]] : [])));
    const token = tokens && bearerToken(r.authorization);
    const target = auditTarget(route?.template, params, undefined, r.method);
    write({
      kind: 'request', requestId: r.requestId, principal: (token && tokens?.authenticate(token)?.name) ?? null, source: r.source,
      method: r.method, path: pathOf(r.url), action: auditAction(r.method, route?.template),
      ...(target !== undefined ? { target } : {}),
      outcome: { result: resultOf(r.status), status: r.status, code: r.code },
    });
  });
}

/** The other half of the audit trail: registered with it, before the routes (it reads them from onRoute). */
export const refusalAuditPlugin = fp(refusalAudit, { name: 'rbd-audit-refused', fastify: '5.x', dependencies: ['rbd-audit'] });
