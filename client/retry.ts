// Opt-in retries (createRbdClient(…, { retry: … })): an answer 429 RATE_LIMITED or 503 (CEPH_BUSY,
// CEPH_UNAVAILABLE, SHUTTING_DOWN) is retried after the time its Retry-After header asks for (else after an
// exponential backoff); 504 CEPH_TIMEOUT only for methods that are safe to repeat (GET, HEAD, PUT, DELETE) —
// a POST or PATCH that timed out may have taken effect. A Retry-After longer than `maxDelayMs` is not waited
// for: the answer is returned as it is. The request's signal aborts a wait.

export interface RetryOptions {
  /** retries after the first attempt (default 3) */
  retries?: number;
  /** statuses retried (default 429, 503, 504) */
  statuses?: readonly number[];
  /** methods a 504 is retried for (default GET, HEAD, PUT, DELETE, OPTIONS) */
  methodsOn504?: readonly string[];
  /** the wait without Retry-After: baseDelayMs × 2^attempt (default 500 ms) */
  baseDelayMs?: number;
  /** the longest wait (default 30 s); a longer Retry-After returns the answer */
  maxDelayMs?: number;
  /** called before each wait */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  /** 1 for the first retry */
  attempt: number;
  status: number;
  method: string;
  url: string;
  delayMs: number;
  /** the delay came from the answer's Retry-After */
  retryAfter: boolean;
}

const IDEMPOTENT = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'];

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or not understood. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Wait `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

type Fetch = (input: Request) => Promise<Response>;

/** A fetch that retries as RetryOptions say (the request is cloned for every attempt, its body included). */
export function retryingFetch(fetch: Fetch, options: RetryOptions = {}): Fetch {
  const retries = options.retries ?? 3;
  const statuses = new Set(options.statuses ?? [429, 503, 504]);
  const on504 = new Set((options.methodsOn504 ?? IDEMPOTENT).map((m) => m.toUpperCase()));
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  return async (request) => {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(attempt < retries ? request.clone() : request);
      const retriable = statuses.has(response.status) && (response.status !== 504 || on504.has(request.method));
      if (!retriable || attempt >= retries) return response;
      const after = retryAfterMs(response.headers.get('retry-after'));
      const delayMs = after ?? base * 2 ** attempt;
      if (delayMs > max) return response;
      await response.body?.cancel().catch(() => undefined);
      options.onRetry?.({ attempt: attempt + 1, status: response.status, method: request.method, url: request.url, delayMs, retryAfter: after !== undefined });
      await sleep(delayMs, request.signal);
    }
  };
}
