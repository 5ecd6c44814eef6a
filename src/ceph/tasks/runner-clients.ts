// Task runners' own librados clients. A replica that takes a task over fences the previous runner by
// blocklisting the librados client address in the task's record (runner.ts). Were that the replica's only
// client, every request it serves would fail with it (503 CEPH_UNAVAILABLE: the second probe's N7). So a task
// runs on a client of its own: a separate rados_t that serves one task at a time and nothing else. A takeover
// then fences exactly the stalled run; the request-serving client (client.ts) never appears in a task record.
//
// Clients are kept (idle, up to `maxIdle`, closed after `idleMs`) and reused for the next task when their run
// ended cleanly. A client that saw ESHUTDOWN (blocklisted), whose run lost its lease, or that is closed is
// never reused: it is shut down (its image handles and I/O contexts go with it) and the next task gets a new one.
import { E } from '../../native/errno.js';
import { callTrace, type CallTrace } from '../call.js';
import { CephConnection, type ConnectOptions, type MonCommandResult } from '../connection.js';
import { CephError } from '../errors.js';
import type { Handle } from '../handle.js';
import type { Pointer } from '../../native/types.js';
import { ConnectionSession, withDeadline } from '../session.js';

/** What a task run does its Ceph work through (runner.ts): a session, plus withIoctxLong for long calls. */
export interface RunnerSession {
  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T>;
  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T>;
  withIoctxLong?<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T>;
  monCommand(command: Record<string, unknown>, target?: string): Promise<MonCommandResult>;
  forgetPool(pool: string): void;
  /** true once this session may not be used for another task (blocklisted, closed) */
  readonly fenced?: boolean;
}

/** Where the engine gets a session for one task run, and gives it back. */
export interface RunnerSource {
  acquire(): Promise<RunnerSession>;
  /** `reusable`: the run ended cleanly (not lost, not fenced) */
  release(s: RunnerSession, reusable: boolean): void;
  /** get a client ready before the first task needs one */
  warm?(): void;
}

/** No clients of their own: every run uses `session` (tests and tools that build a TaskEngine on one connection). */
export function sharedRunner(session: RunnerSession): RunnerSource {
  return { acquire: () => Promise.resolve(session), release: () => undefined };
}

export interface RunnerClientOptions extends ConnectOptions {
  /** deadline of one bounded operation (lease, record), ms */
  operationTimeoutMs: number;
  /** idle clients kept for the next tasks (default 2) */
  maxIdle?: number;
  /** an idle client is shut down after this long, ms (default 60 s) */
  idleMs?: number;
}

/** One librados client serving one task run at a time. */
export class RunnerClient extends ConnectionSession implements RunnerSession {
  #fenced = false;
  #mapWatchUntil = 0;
  #mapTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly conn: CephConnection, private readonly timeoutMs: number) { super(); }

  get fenced(): boolean { return this.#fenced || !this.conn.isOpen; }

  override forgetPool(pool: string): void { this.conn.forgetPool(pool); }

  close(): Promise<void> {
    clearTimeout(this.#mapTimer);
    clearTimeout(this.idleTimer);
    this.#fenced = true;
    return this.conn.close();
  }

  protected async run<T>(op: string, fn: (c: CephConnection) => Promise<T>, bounded = true): Promise<T> {
    if (this.#fenced) throw new CephError('cluster', op, -E.ESHUTDOWN, 'this task runner\'s client was fenced', 'closed');
    const trace: CallTrace = { op: undefined, queued: 0, running: 0 };
    try {
      const work = callTrace.run(trace, () => fn(this.conn));
      return bounded ? await withDeadline(op, this.timeoutMs, work, trace) : await work;
    } catch (e) {
      // blocklisted (a takeover fenced this run): this rados_t is dead for good
      if (e instanceof CephError && (e.code === 'ESHUTDOWN' || (e.kind === 'closed' && !this.conn.isOpen))) this.#fenced = true;
      if (e instanceof CephError && e.code === 'ETIMEDOUT' && !op.startsWith('mon_command')) this.refreshOsdMap();
      throw e;
    }
  }

  /** As client.ts does: after an OSD timeout, fetch the latest OSD map every second for 30 s (a restarted OSD). */
  private refreshOsdMap(): void {
    this.#mapWatchUntil = Date.now() + 30_000;
    if (this.#mapTimer) return;
    const tick = (): void => {
      if (Date.now() > this.#mapWatchUntil || this.fenced) { this.#mapTimer = undefined; return; }
      void this.conn.catchUpOsdMap().catch(() => undefined).finally(() => {
        this.#mapTimer = setTimeout(tick, 1000);
        this.#mapTimer.unref();
      });
    };
    this.#mapTimer = setTimeout(tick, 0);
    this.#mapTimer.unref();
  }
}

/** The pool of task runners' clients of one process. */
export class RunnerClients implements RunnerSource {
  readonly #idle: RunnerClient[] = [];
  readonly #all = new Set<RunnerClient>();
  #closed = false;
  /** clients made so far (a figure for tests and metrics) */
  created = 0;

  constructor(private readonly opts: RunnerClientOptions) {}

  get open(): number { return this.#all.size; }

  async acquire(): Promise<RunnerClient> {
    if (this.#closed) throw CephError.closed('task_runner_connect');
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      clearTimeout(c.idleTimer);
      if (!c.fenced) return c;
      this.discard(c);
    }
    const conn = await CephConnection.connect(this.opts);
    if (this.#closed) {
      await conn.close();
      throw CephError.closed('task_runner_connect');
    }
    const c = new RunnerClient(conn, this.opts.operationTimeoutMs);
    this.created++;
    this.#all.add(c);
    return c;
  }

  release(s: RunnerSession, reusable: boolean): void {
    const c = s as RunnerClient;
    if (!this.#all.has(c)) return;
    if (this.#closed || !reusable || c.fenced || this.#idle.length >= (this.opts.maxIdle ?? 2)) {
      this.discard(c);
      return;
    }
    c.idleTimer = setTimeout(() => {
      const i = this.#idle.indexOf(c);
      if (i >= 0) this.#idle.splice(i, 1);
      this.discard(c);
    }, this.opts.idleMs ?? 60_000);
    c.idleTimer.unref();
    this.#idle.push(c);
  }

  /** Make one idle client ahead of the first task (so that task does not wait for a connect). */
  warm(): void {
    if (this.#closed || this.#idle.length > 0) return;
    void this.acquire().then((c) => this.release(c, true), () => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    await Promise.allSettled([...this.#all].map((c) => this.discardNow(c)));
  }

  private discard(c: RunnerClient): void { void this.discardNow(c); }

  private async discardNow(c: RunnerClient): Promise<void> {
    this.#all.delete(c);
    // waits for the calls in flight on it (a fenced client's calls fail at once), then rados_shutdown
    await c.close().catch(() => undefined);
  }
}
