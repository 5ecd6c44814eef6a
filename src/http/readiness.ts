// Readiness: does the cluster answer? One cheap mon round trip, cached briefly and shared by
// concurrent probes, so probes never multiply Ceph load.
import type { CephClient } from '../ceph/client.js';
import { overdueCalls } from '../ceph/call.js';

export interface ReadinessResult { ready: boolean; reason?: string | undefined; checkedAt: number }

export class Readiness {
  private last: ReadinessResult | undefined;
  private pending: Promise<ReadinessResult> | undefined;
  private draining = false;

  constructor(private readonly client: CephClient, private readonly cacheMs: number, private readonly timeoutMs: number) {}

  /** After SIGTERM: report not ready so load balancers stop sending traffic. */
  drain(): void { this.draining = true; }
  get isDraining(): boolean { return this.draining; }

  check(): Promise<ReadinessResult> {
    if (this.draining) return Promise.resolve({ ready: false, reason: 'shutting down', checkedAt: Date.now() });
    // every request slot held by a call stuck past its deadline: this instance can serve nothing (restart it)
    const stuck = overdueCalls();
    if (stuck.overdue > 0 && stuck.overdue >= stuck.concurrency) {
      return Promise.resolve({
        ready: false,
        reason: `all ${stuck.concurrency} Ceph call slots are held by calls running past their deadline (stuck)`,
        checkedAt: Date.now(),
      });
    }
    if (this.last && Date.now() - this.last.checkedAt < this.cacheMs) return Promise.resolve(this.last);
    this.pending ??= (async () => {
      try {
        if (this.client.state !== 'connected') {
          return { ready: false, reason: `ceph connection ${this.client.state}`, checkedAt: Date.now() };
        }
        await this.client.ping(this.timeoutMs);
        return { ready: true, checkedAt: Date.now() };
      } catch (e) {
        return { ready: false, reason: e instanceof Error ? e.message : String(e), checkedAt: Date.now() };
      }
    })().then((r) => {
      this.last = r;
      this.pending = undefined;
      return r;
    });
    return this.pending;
  }
}
