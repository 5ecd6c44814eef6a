// The lease keeper of one run: while the handler runs, a timer renews the run's lease (every third of it),
// writes the progress (throttled), and reads the record for what other replicas wrote: a cancel request
// (the handler is stopped) or another runner's name (a takeover: this run stops and writes nothing more).
// A run whose client was blocklisted (a takeover fenced it, runner-clients.ts) stops at the next tick.
import { setTimeout as sleep } from 'node:timers/promises';
import { E } from '../../native/errno.js';
import type { RunState } from './run-context.js';
import { casRecord, lockLease, readRecord } from './store.js';
import { isFinished, type TaskEngineOptions } from './types.js';

export class LeaseKeeper {
  private lastRenew = Date.now();
  private lastWrite = 0;
  private written: number;
  private busy = false;
  private readonly timer: NodeJS.Timeout;

  /** Starts at once; `cookie` is the run's lease cookie, `instance` the engine's name (the record's runner). */
  constructor(private readonly s: RunState, private readonly cookie: string, private readonly instance: string,
    private readonly opts: TaskEngineOptions) {
    this.written = s.rec.progress;
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.keep().finally(() => { this.busy = false; });
    }, Math.min(250, opts.progressMs));
    this.timer.unref();
  }

  /** Stop the timer, then wait for a pass still under way (nothing is written after this). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await sleep(10);
  }

  private lost(why: string): void {
    this.s.run.stopReason ??= 'lease';
    this.s.run.abort.abort(new Error(why));
  }

  private async keep(): Promise<void> {
    const { c, runner } = this.s;
    const now = Date.now();
    if (runner.fenced) {
      // this run's client was blocklisted: a takeover fenced it
      this.lost('fenced');
      return;
    }
    if (now - this.lastRenew >= this.opts.leaseMs / 3) {
      const r = await this.s.withIo((p) => lockLease(p, c.id, this.cookie, this.instance, this.opts.leaseMs, true)).catch(() => undefined);
      if (r === 0) this.lastRenew = now;
      else if (r === -E.EBUSY || Date.now() - this.lastRenew > this.opts.leaseMs) {
        this.lost('lease lost');
        return;
      }
    }
    const p = this.s.progress.now();
    const due = now - this.lastWrite >= this.opts.progressMs;
    if (due && (p !== this.written || now - this.lastWrite >= 1000)) {
      this.lastWrite = now;
      const fresh = await this.s.withIo((io) => readRecord(io, c.id)).catch(() => undefined);
      if (!fresh) return;
      if (fresh.cancelRequested) this.s.cancelNow();
      if (fresh.runner !== this.instance || isFinished(fresh.state)) {
        this.lost('lease lost');
        return;
      }
      if (p !== fresh.progress) {
        const next = { ...fresh, v: fresh.v + 1, progress: p };
        if (await this.s.withIo((io) => casRecord(io, next)).catch(() => false)) { this.s.rec = next; this.written = p; }
      }
    }
  }
}
