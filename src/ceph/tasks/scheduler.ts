// The scheduler: which task this instance runs next. Every replica scans the pools' active lists every few
// seconds (and hears of the tasks submitted here at once); each task found is a candidate until a slot is
// free. At most LONG (longLimiter) tasks run per process, picked round-robin by pool spec, so one tenant's
// long purge does not hold another tenant's flatten. Whether a candidate really runs here is decided by its
// lease (runner.ts): the scan offers every replica the same tasks.
import { setTimeout as sleep } from 'node:timers/promises';
import { longLimiter } from '../../native/async-call.js';
import { type CephSession } from '../connection.js';
import { omapPage } from './omap.js';
import { poolMatcher, poolNames } from './pool-lookup.js';
import { ACTIVE_OBJECT, parseTaskId, trimFinished } from './store.js';
import type { Candidate, LocalRun, TaskEngineOptions } from './types.js';
import { poolSpec } from '../spec.js';

export class Scheduler {
  /** the tasks running in this instance, by id */
  readonly running = new Map<string, LocalRun>();
  private readonly candidates = new Map<string, Candidate>();
  /** ids not to try again before this time (ms): locked by another runner, or a cleanup that failed */
  private readonly backoff = new Map<string, number>();
  private rrOrder: string[] = [];
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  private lastTrim = 0;
  private started = false;
  private stopping = false;

  /** `runOne` runs one candidate (runner.ts); a rejection backs the task off for two scans. */
  constructor(private readonly session: CephSession, private readonly opts: TaskEngineOptions,
    private readonly runOne: (c: Candidate, run: LocalRun) => Promise<unknown>) {
    this.serves = poolMatcher(opts.pools);
  }

  /** the pools this replica scans (TASK_POOLS) */
  readonly serves: (pool: string) => boolean;

  /** stop() was called: no new run starts, and a run that fails is not tried again here */
  get isStopping(): boolean { return this.stopping; }

  /** Start scanning (idempotent); `onStart` runs once, before the first scan. */
  start(onStart?: () => void): void {
    if (this.started || !this.opts.run) return;
    this.started = true;
    this.stopping = false;
    onStart?.();
    const tick = () => {
      this.scanTimer = setTimeout(() => {
        void this.scan().finally(() => { if (this.started) tick(); });
      }, this.opts.scanMs * (0.75 + Math.random() * 0.5));
      this.scanTimer.unref();
    };
    tick();
    void this.scan();
  }

  /** Stop scanning, abort every run ('shutdown': handed over) and wait up to waitMs for them to end. */
  async stop(waitMs: number): Promise<void> {
    this.started = false;
    this.stopping = true;
    clearTimeout(this.scanTimer);
    this.candidates.clear();
    const runs = [...this.running.values()];
    for (const r of runs) {
      r.stopReason ??= 'shutdown';
      r.abort.abort(new Error('the service is shutting down'));
    }
    await Promise.race([Promise.allSettled(runs.map((r) => r.done)), sleep(waitMs)]);
  }

  /** A task submitted here: it starts at once when a slot is free (nothing while stopped). */
  offer(c: Candidate): void {
    if (this.started && !this.stopping) {
      this.addCandidate(c);
      this.pump();
    }
  }

  /** Forget a candidate (its task ended meanwhile). */
  drop(id: string): void { this.candidates.delete(id); }

  /** Do not try `id` again before `until` (ms). */
  backOff(id: string, until: number): void { this.backoff.set(id, until); }

  private addCandidate(c: Candidate): void {
    if (this.running.has(c.id) || this.candidates.has(c.id)) return;
    const until = this.backoff.get(c.id);
    if (until !== undefined) {
      if (until > Date.now()) return;
      this.backoff.delete(c.id);
    }
    this.candidates.set(c.id, c);
    if (!this.rrOrder.includes(c.spec)) this.rrOrder.push(c.spec);
  }

  private slots(): number { return Math.max(1, longLimiter.concurrency); }

  /**
   * Round-robin by pool spec: first a spec with nothing running here, then one below its share (LONG - 1
   * slots); the oldest task of that spec.
   */
  private pick(): Candidate | undefined {
    if (this.candidates.size === 0) return undefined;
    const bySpec = new Map<string, Candidate>();
    const created = (id: string) => parseTaskId(id)?.createdMs ?? 0;
    for (const c of this.candidates.values()) {
      const cur = bySpec.get(c.spec);
      if (!cur || created(c.id) < created(cur.id)) bySpec.set(c.spec, c);
    }
    this.rrOrder = this.rrOrder.filter((s) => bySpec.has(s));
    const runningBySpec = new Map<string, number>();
    for (const r of this.running.values()) runningBySpec.set(r.spec, (runningBySpec.get(r.spec) ?? 0) + 1);
    // one slot always stays for a pool spec with nothing running here: a tenant with a backlog of long
    // removals holds at most LONG - 1 slots, so another tenant's task starts at once, not after the backlog
    const perSpec = Math.max(1, this.slots() - 1);
    const eligible = this.rrOrder.filter((s) => (runningBySpec.get(s) ?? 0) < perSpec);
    const spec = eligible.find((s) => !runningBySpec.has(s)) ?? eligible[0];
    if (spec === undefined) return undefined;
    // rotate: the chosen spec goes to the back
    this.rrOrder = [...this.rrOrder.filter((s) => s !== spec), spec];
    const c = bySpec.get(spec)!;
    this.candidates.delete(c.id);
    return c;
  }

  private pump(): void {
    while (!this.stopping && this.started && this.running.size < this.slots()) {
      const c = this.pick();
      if (!c) return;
      const run: LocalRun = { id: c.id, spec: c.spec, abort: new AbortController(), done: Promise.resolve() };
      this.running.set(c.id, run);
      run.done = this.runOne(c, run)
        .then(() => undefined, () => { this.backoff.set(c.id, Date.now() + this.opts.scanMs * 2); })
        .finally(() => {
          this.running.delete(c.id);
          this.pump();
        });
    }
  }

  /** Look at every pool's active list; queue what is not ours yet. */
  private async scan(): Promise<void> {
    if (this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      const pools = (await poolNames(this.session)).filter(this.serves);
      await Promise.all(pools.map(async (pool) => {
        try {
          const { entries } = await this.session.withIoctx(pool, (io) => io.use('task_scan', (p) => omapPage(p, ACTIVE_OBJECT, '', 1000)));
          for (const e of entries) {
            if (parseTaskId(e.key) === undefined) continue;
            let ns = '';
            try { ns = (JSON.parse(e.value) as { ns?: string }).ns ?? ''; } catch { /* default namespace */ }
            this.addCandidate({ pool, id: e.key, spec: poolSpec(pool, ns) });
          }
        } catch { /* a pool that vanished, or that this key may not read */ }
      }));
      const now = Date.now();
      for (const [id, until] of this.backoff) if (until <= now) this.backoff.delete(id);
      // retention: every 10 minutes, each replica trims what ended before the retention period (idempotent)
      if (this.opts.retentionMs > 0 && now - this.lastTrim > 600_000) {
        this.lastTrim = now;
        await Promise.all(pools.map((pool) => this.session.withIoctx(pool, (io) => io.use('task_trim',
          (p) => trimFinished(p, now - this.opts.retentionMs, 1000))).catch(() => 0)));
      }
    } catch { /* not connected: next scan */ } finally {
      this.scanning = false;
    }
    this.pump();
  }
}
