// A long-lived cluster client for the service: connects in the background, reconnects with backoff
// when the connection is lost (blocklisted, never established), bounds every operation by a
// deadline, and exposes Pools and Images over whichever connection is current.
import { E } from '../native/errno.js';
import { CephConnection, type ConnectOptions } from './connection.js';
import { CephError } from './errors.js';
import { callTrace, type CallTrace } from './call.js';
import { TransferClient } from './content/transfer-client.js';
import { Images } from './images.js';
import { Migrations } from './migration-start.js';
import { DEFAULT_CLONE_DEPTH, type CloneDepthLimits } from './clone-chain.js';
import { mutationLocks, type MutationLockSettings } from './image-lock.js';
import { Pools } from './pools.js';
import { registerTaskHandlers } from './tasks/handlers.js';
import { RunnerClients } from './tasks/runner-clients.js';
import { TaskEngine } from './tasks/engine.js';
import type { TaskEngineOptions } from './tasks/types.js';
import { Trash } from './trash.js';
import { Schedules, type ScheduleOptions } from './schedules/index.js';
import { ConnectionSession, withDeadline } from './session.js';

export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface ClientOptions extends ConnectOptions {
  /** deadline of one operation, ms (librados' own timeouts should fire first) */
  operationTimeoutMs: number;
  /** first and largest pause between reconnect attempts, ms */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** the task engine's settings (default: from TASK_* environment variables, see tasks/types.ts) */
  tasks?: Partial<TaskEngineOptions>;
  /** the per-image mutation lock's lease and wait (image-lock.ts) */
  locks?: Partial<MutationLockSettings>;
  /** clone-depth policy (clone-chain.ts; default ceph-csi's 4/8) */
  cloneDepth?: CloneDepthLimits;
  /** the schedules' settings: shortest interval, clock (schedules/loop.ts) */
  schedules?: Partial<ScheduleOptions>;
}

export interface ClientEvents {
  onStateChange?: (state: ClientState, error?: unknown) => void;
}

export class CephClient extends ConnectionSession {
  readonly pools: Pools;
  readonly images: Images;
  /** durable long operations (src/ceph/tasks/engine.ts); runs tasks while connected */
  readonly tasks: TaskEngine;
  readonly trash: Trash;
  /** live migrations and imports from a URL (migration-start.ts) */
  readonly migrations: Migrations;
  /** snapshot and trash purge schedules (src/ceph/schedules/): claims slots while connected */
  readonly schedules: Schedules;
  /** the task runs' own librados clients: a takeover's fencing never reaches this client (tasks/runner-clients.ts) */
  readonly runnerClients: RunnerClients;
  /** downloads' own librados client: their reads on OSD connections apart from the requests' (content/transfer-client.ts) */
  readonly transfers: TransferClient;
  /** a clone deeper than `soft` gets a flatten task; deeper than `hard` is refused (CLONE_DEPTH_SOFT/HARD) */
  readonly cloneDepth: CloneDepthLimits;
  #conn: CephConnection | undefined;
  #state: ClientState = 'disconnected';
  #lastError: unknown;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoff: number;
  /** after an OSD timeout the OSD map is fetched every second until this time (see refreshOsdMap) */
  #mapWatchUntil = 0;
  #mapTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ClientOptions, private readonly events: ClientEvents = {}) {
    super();
    mutationLocks(this, opts.locks); // first, so that every user of this client's locks gets these settings
    this.cloneDepth = opts.cloneDepth ?? { ...DEFAULT_CLONE_DEPTH };
    this.pools = new Pools(this);
    this.images = new Images(this);
    this.runnerClients = new RunnerClients(opts);
    this.transfers = new TransferClient(opts);
    this.tasks = new TaskEngine(this, opts.tasks, this.runnerClients);
    this.trash = new Trash(this, this.tasks);
    this.migrations = new Migrations(this, this.tasks, this.images, this.pools);
    this.schedules = new Schedules(this, this.tasks, { run: opts.tasks?.run ?? true, ...opts.schedules });
    registerTaskHandlers(this.tasks, this.schedules); // every action, before any task runs (tasks/handlers.ts)
    this.#backoff = opts.backoffMinMs ?? 500;
  }

  get state(): ClientState { return this.#state; }
  get lastError(): unknown { return this.#lastError; }

  /** Start connecting; resolves after the first attempt whether it worked or not. */
  start(): Promise<void> { return this.connectNow(); }

  /** Resolves once connected (or rejects with the connect error after one attempt). */
  async ready(): Promise<void> {
    await this.connectNow();
    if (!this.#conn) throw this.#lastError instanceof Error ? this.#lastError : CephError.closed('connect');
  }

  async close(): Promise<void> {
    // schedules and tasks first, while connected: a running task's lease is released (handed over) before the connection goes
    await this.schedules.stop();
    await this.tasks.stop();
    await this.runnerClients.close();
    await this.transfers.close();
    await mutationLocks(this).drain(); // image locks released after their answers were sent: let them go first
    this.setState('closed');
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#mapTimer);
    this.#mapWatchUntil = 0;
    await this.#connecting?.catch(() => undefined);
    const conn = this.#conn;
    this.#conn = undefined;
    await conn?.close();
  }

  /** Forget the cached I/O context of a pool that was deleted. */
  override forgetPool(pool: string): void { this.#conn?.forgetPool(pool); }


  /**
   * A cheap round trip to the monitors (for readiness), on the probe's own slot: calls stuck on a lost OSD
   * occupy the request slots, and must not make the monitors look unreachable.
   */
  async ping(timeoutMs: number): Promise<void> {
    await withDeadline('ping', timeoutMs, this.run('mon_command(version)', (c) => c.monCommand({ prefix: 'version' }, undefined, true)));
  }

  protected async run<T>(op: string, fn: (c: CephConnection) => Promise<T>, bounded = true): Promise<T> {
    const conn = this.#conn;
    if (!conn || this.#state !== 'connected') {
      if (this.#state !== 'closed') void this.connectNow();
      throw new CephError('cluster', op, -E.ENOTCONN, 'not connected to the cluster', 'closed');
    }
    // the trace tells the deadline which native call was running, or that the work only waited for a slot
    const trace: CallTrace = { op: undefined, queued: 0, running: 0 };
    try {
      const work = callTrace.run(trace, () => fn(conn));
      return bounded ? await withDeadline(op, this.opts.operationTimeoutMs, work, trace) : await work;
    } catch (e) {
      if (e instanceof CephError && e.code === 'ETIMEDOUT' && !op.startsWith('mon_command')) this.refreshOsdMap(conn);
      // blocklisted: this rados_t is dead for good; make a new one
      // (a `closed` error from an I/O context or image is that object's, not the connection's)
      if (e instanceof CephError && (e.code === 'ESHUTDOWN' || (e.kind === 'closed' && !conn.isOpen && this.#conn === conn))) {
        this.dropConnection(conn, e);
      }
      throw e;
    }
  }

  /**
   * An OSD operation timed out: the OSD may be gone, or back at a new address (a restarted OSD) that this
   * client's OSD map does not have yet (librados asks for a map only when it sees a reason). Fetch the latest
   * map every second (one monitor round trip, in the background) until 30 s after the last timeout: when the
   * OSD boots, the new map reaches librados within a second and it resends the calls in flight there.
   */
  private refreshOsdMap(conn: CephConnection): void {
    this.#mapWatchUntil = Date.now() + 30_000;
    if (this.#mapTimer) return;
    const tick = (): void => {
      if (Date.now() > this.#mapWatchUntil || this.#conn !== conn || this.#state === 'closed') {
        this.#mapTimer = undefined;
        return;
      }
      void conn.catchUpOsdMap().catch(() => undefined).finally(() => {
        this.#mapTimer = setTimeout(tick, 1000);
        this.#mapTimer.unref();
      });
    };
    this.#mapTimer = setTimeout(tick, 0);
    this.#mapTimer.unref();
  }

  private dropConnection(conn: CephConnection, error: unknown): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    this.#lastError = error;
    this.setState('disconnected', error);
    void conn.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private connectNow(): Promise<void> {
    if (this.#conn || this.#state === 'closed') return Promise.resolve();
    this.#connecting ??= (async () => {
      this.setState('connecting');
      try {
        const conn = await CephConnection.connect(this.opts);
        if (this.#state === 'closed') {
          await conn.close();
          return;
        }
        this.#conn = conn;
        this.#lastError = undefined;
        this.#backoff = this.opts.backoffMinMs ?? 500;
        this.setState('connected');
      } catch (e) {
        this.#lastError = e;
        if (this.#state !== 'closed') {
          this.setState('disconnected', e);
          this.scheduleReconnect();
        }
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  private scheduleReconnect(): void {
    if (this.#retryTimer || this.#state === 'closed') return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.opts.backoffMaxMs ?? 10_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.connectNow();
    }, delay);
    this.#retryTimer.unref();
  }

  private setState(state: ClientState, error?: unknown): void {
    if (this.#state === state) return;
    this.#state = state;
    if (state === 'connected') {
      this.tasks.start();
      this.schedules.start();
    }
    this.events.onStateChange?.(state, error);
  }
}

