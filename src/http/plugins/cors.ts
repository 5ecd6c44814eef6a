// Browser access from other origins (the web console): CORS_ORIGINS lists the origins allowed to call the
// API; unset = no CORS headers at all (browsers then refuse cross-origin reads). Preflights are answered in
// an onRequest hook registered BEFORE authentication (a browser never sends Authorization on a preflight),
// so every route accepts `Authorization` from an allowed origin. A non-preflight OPTIONS request (no Origin
// or no Access-Control-Request-Method) is not CORS at all and goes on to the ordinary not-found/405 handling.
import cors from '@fastify/cors';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Request headers a page may send (the API reads these; anything else is not needed by a client). */
export const CORS_ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'Accept', 'Prefer', 'X-Request-Id', 'If-Match', 'If-None-Match', 'Idempotency-Key',
];
/** Response headers a page may read besides the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS = [
  'X-Request-Id', 'Location', 'Link', 'Retry-After', 'ETag', 'WWW-Authenticate',
  'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset',
  'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset',
];
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** seconds a browser may cache a preflight answer (Chromium caps this at 7200) */
export const CORS_MAX_AGE = 600;

/**
 * Parse CORS_ORIGINS: a comma (or space) separated list of origins such as `https://console.example.com`
 * or `http://127.0.0.1:3000`, or `*` for any origin. Throws with a message naming the bad entry.
 */
export function parseCorsOrigins(text: string): string[] {
  const items = text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error('is empty (unset it for no CORS)');
  for (const item of items) {
    if (item === '*') continue;
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new Error(`"${item}" is not an origin (scheme://host[:port])`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${item}": only http and https origins`);
    if (url.origin !== item.replace(/\/$/, '')) {
      throw new Error(`"${item}" is not an origin: give scheme://host[:port] only, no path, query or user (e.g. ${url.origin})`);
    }
  }
  return items.map((i) => i.replace(/\/$/, ''));
}

const isPreflight = (req: FastifyRequest): boolean =>
  req.method === 'OPTIONS' && typeof req.headers.origin === 'string'
  && typeof req.headers['access-control-request-method'] === 'string';

async function corsOrigins(app: FastifyInstance, { origins }: { origins: readonly string[] }): Promise<void> {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  await app.register(cors, {
    hook: 'onRequest',
    // decided per request: only an allowed Origin gets headers; a plain OPTIONS is not a preflight
    delegator: (req, cb) => {
      const origin = req.headers.origin;
      const ok = typeof origin === 'string' && (any || allowed.has(origin));
      if (!ok || (req.method === 'OPTIONS' && !isPreflight(req))) {
        cb(null, { origin: false });
        return;
      }
      cb(null, {
        origin: any ? '*' : origin,
        methods: CORS_METHODS,
        allowedHeaders: CORS_ALLOWED_HEADERS,
        exposedHeaders: CORS_EXPOSED_HEADERS,
        credentials: false, // bearer tokens, no cookies
        maxAge: CORS_MAX_AGE,
        preflight: true,
        strictPreflight: true,
        optionsSuccessStatus: 204,
      });
    },
  });
}

export const corsPlugin = fp(corsOrigins, { name: 'rbd-cors', fastify: '5.x' });
