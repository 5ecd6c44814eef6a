// Per-token request limits (@fastify/rate-limit with a token-bucket store): every principal (the token's
// name; the client address when authentication is off) may send RATE_LIMIT_PER_SECOND requests per second on
// average and bursts of up to RATE_LIMIT_BURST at once. Past that: 429 problem+json (RATE_LIMITED) with
// Retry-After (seconds until a request is allowed again) and RateLimit-* headers, counted in
// rbdapi_http_rate_limited_total{principal}. Probes and /metrics are never limited. The limit runs in the
// route's onRequest hook, i.e. after authentication (the principal is known) and before the body is read.
// Limits are per replica (each keeps its own buckets).
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { bearerToken, type TokenStore } from '../auth.js';
import { ApiError } from '../errors.js';

export interface RateLimitSettings {
  /** sustained requests per second per principal; 0 = no limit */
  perSecond: number;
  /** requests allowed at once from a full bucket */
  burst: number;
}

/** never limited: orchestration probes and the metrics scraper */
export const RATE_LIMIT_EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

interface Bucket { tokens: number; at: number }

/**
 * A token bucket per key: `burst` tokens, refilled at `perSecond`. Answers in @fastify/rate-limit's store
 * protocol: `current` ≤ max while a token was taken (remaining = max - current), max + 1 when the bucket is
 * empty, with `ttl` = ms until the next token (Retry-After) or until the bucket is full again (reset).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  constructor(readonly perSecond: number, readonly burst: number, private readonly now: () => number = Date.now) {}

  take(key: string): { allowed: boolean; remaining: number; ttlMs: number } {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= 10_000) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, remaining: Math.floor(b.tokens), ttlMs: Math.ceil(((this.burst - b.tokens) / this.perSecond) * 1000) };
    }
    return { allowed: false, remaining: 0, ttlMs: Math.max(1, Math.ceil(((1 - b.tokens) / this.perSecond) * 1000)) };
  }

  /** Would `take` allow a request now? (consumes nothing) */
  peek(key: string): { allowed: boolean; ttlMs: number } {
    const b = this.buckets.get(key);
    if (!b) return { allowed: true, ttlMs: 0 };
    const tokens = Math.min(this.burst, b.tokens + ((this.now() - b.at) / 1000) * this.perSecond);
    return tokens >= 1 ? { allowed: true, ttlMs: 0 } : { allowed: false, ttlMs: Math.max(1, Math.ceil(((1 - tokens) / this.perSecond) * 1000)) };
  }

  get size(): number { return this.buckets.size; }

  /** forget full buckets (a full bucket is the same as none) */
  sweep(now = this.now()): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
    }
  }
}

/** The key of a request: its principal's name, or its address when authentication is off. */
export function rateLimitKey(req: FastifyRequest): string {
  return req.principal ? `token:${req.principal.name}` : `addr:${req.ip}`;
}

async function requestLimit(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  if (settings.perSecond <= 0) return;
  const buckets = new TokenBuckets(settings.perSecond, Math.max(1, settings.burst));
  const limited = limitedCounter(app);
  class Store {
    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void): void {
      const r = buckets.take(key);
      cb(null, { current: r.allowed ? buckets.burst - r.remaining : buckets.burst + 1, ttl: r.ttlMs });
    }
    child(): Store { return this; }
  }
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: buckets.burst,
    timeWindow: 1000,
    store: Store,
    enableDraftSpec: true, // RateLimit-Limit / -Remaining / -Reset and Retry-After
    keyGenerator: rateLimitKey,
    allowList: (req) => RATE_LIMIT_EXEMPT.has(req.routeOptions.url ?? ''),
    onExceeded: (req) => { limited.inc({ principal: req.principal?.name ?? '-' }); },
    errorResponseBuilder: (req, ctx) => {
      const seconds = Math.max(1, Math.ceil(ctx.ttl / 1000));
      const who = req.principal ? `token "${req.principal.name}"` : 'this client';
      return new ApiError('RATE_LIMITED',
        `Too many requests from ${who}: the limit is ${settings.perSecond}/s with bursts of ${buckets.burst}; retry in ${seconds} s.`,
        { retryAfter: seconds });
    },
  });
}

/** Failed authentications allowed per client address: a burst, then one a second. */
export const AUTH_FAILURE_BURST = 30;
export const AUTH_FAILURES_PER_SECOND = 1;

/**
 * Guessing tokens: every 401 takes a token from the client address's bucket; an address whose bucket is empty
 * gets 429 RATE_LIMITED (with Retry-After) instead of a token check — unless its request carries a valid
 * token, so a client sharing an address (NAT) with a guesser is not locked out. Registered before
 * authentication; counted in rbdapi_http_rate_limited_total{principal="-"}.
 */
async function authFailureLimit(app: FastifyInstance, { tokens, burst = AUTH_FAILURE_BURST, perSecond = AUTH_FAILURES_PER_SECOND }:
  { tokens: TokenStore; burst?: number; perSecond?: number }): Promise<void> {
  const failures = new TokenBuckets(perSecond, burst);
  const limited = limitedCounter(app);
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.public) return;
    const state = failures.peek(req.ip);
    if (state.allowed) return;
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined && tokens.authenticate(token)) return;
    limited.inc({ principal: '-' });
    const seconds = Math.max(1, Math.ceil(state.ttlMs / 1000));
    reply.header('retry-after', String(seconds));
    throw new ApiError('RATE_LIMITED', `Too many failed authentications from this address; retry in ${seconds} s.`, { retryAfter: seconds });
  });
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 401) failures.take(req.ip);
  });
}

/** Per-principal limits; after authentication (keyed by the token's name), before any route is added (it hooks each route). */
export const rateLimitPlugin = fp(requestLimit, { name: 'rbd-rate-limit', fastify: '5.x', dependencies: ['rbd-core'] });
/** Failed authentications per address; before authentication (it answers 429 instead of the token check). */
export const authFailureLimitPlugin = fp(authFailureLimit, { name: 'rbd-auth-failure-limit', fastify: '5.x', dependencies: ['rbd-core'] });

/** The limited-requests counter, shared by both limits (registered once per app). */
function limitedCounter(app: FastifyInstance): Counter<'principal'> {
  const name = 'rbdapi_http_rate_limited_total';
  const existing = app.metrics.registry.getSingleMetric(name) as Counter<'principal'> | undefined;
  return existing ?? new Counter({
    name,
    help: 'Requests answered 429 RATE_LIMITED, by principal (token name; "-" for requests without a valid token)',
    labelNames: ['principal'],
    registers: [app.metrics.registry],
  });
}

