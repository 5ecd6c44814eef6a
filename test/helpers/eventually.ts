// Waiting for a state instead of sleeping for a guessed time: poll until the probe holds.

export interface EventuallyOptions {
  /** give up after this many ms (default 15 s) */
  timeoutMs?: number;
  /** ms between probes (default 100) */
  intervalMs?: number;
  /** what is awaited, for the timeout message */
  what?: string;
}

/**
 * Run `probe` until it holds: it returns without throwing and does not return `false`. Resolves with what it
 * returned. Past the timeout, rejects with the last failure (an expect() inside the probe reports its own
 * diff) or with "… still false". The probe always runs at least once, and once more at the deadline.
 */
export async function eventually<T>(probe: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<Exclude<T, false>> {
  const { timeoutMs = 15_000, intervalMs = 100, what = 'the condition' } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const v = await probe();
      if (v !== false) return v as Exclude<T, false>;
      failure = new Error(`${what} still false after ${timeoutMs} ms`);
    } catch (e) {
      failure = e;
    }
    if (Date.now() >= deadline) {
      if (failure instanceof Error) failure.message = `${what}: not reached within ${timeoutMs} ms: ${failure.message}`;
      throw failure;
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
