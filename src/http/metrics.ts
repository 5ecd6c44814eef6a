// Prometheus metrics (/metrics): HTTP latency by route and status, librados/librbd call latency and errors
// by operation and errno, Ceph calls in flight and queued, and the connection state. One registry per app.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CephClient, ClientState } from '../ceph/client.js';
import { nativeLoad, observeCephCalls, type CephCallObserver } from '../ceph/process.js';
import { overdueCalls } from '../ceph/call.js';
import { transferLoad } from '../ceph/content/budget.js';

const STATES: readonly ClientState[] = ['connecting', 'connected', 'disconnected', 'closed'];

export class Metrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  private readonly cephCalls: Histogram<'op' | 'result'>;
  private readonly cephErrors: Counter<'op' | 'errno'>;
  private readonly observer: CephCallObserver;
  private readonly unsubscribeTasks: () => void;
  private readonly unsubscribeSchedules: () => void;

  constructor(ceph: CephClient) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'rbdapi_' });
    this.http = new Histogram({
      name: 'rbdapi_http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.cephCalls = new Histogram({
      name: 'rbdapi_ceph_call_duration_seconds',
      help: 'librados/librbd calls by C function and result ("ok" or the errno name)',
      labelNames: ['op', 'result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.cephErrors = new Counter({
      name: 'rbdapi_ceph_call_errors_total',
      help: 'librados/librbd calls that returned an error, by C function and errno name',
      labelNames: ['op', 'errno'],
      registers,
    });
    new Gauge({
      name: 'rbdapi_ceph_calls_in_flight', help: 'librados/librbd calls running on the threadpool', registers,
      collect() { this.set(nativeLoad().inFlight); },
    });
    new Gauge({
      name: 'rbdapi_ceph_calls_queued', help: 'librados/librbd calls waiting for a concurrency slot', registers,
      collect() { this.set(nativeLoad().queued); },
    });
    new Gauge({
      name: 'rbdapi_ceph_calls_overdue',
      help: 'librados/librbd calls running past their deadline now (stuck: each holds a slot and a worker thread)',
      registers,
      collect() { this.set(overdueCalls().overdue); },
    });
    new Gauge({
      name: 'rbdapi_ceph_concurrency_limit', help: 'librados/librbd calls allowed at once', registers,
      collect() { this.set(nativeLoad().concurrency); },
    });
    new Gauge({
      name: 'rbdapi_transfers_active', help: 'Downloads (and uploads) of image content streaming now', registers,
      collect() { this.set(transferLoad().transfers); },
    });
    new Gauge({
      name: 'rbdapi_transfer_io_in_flight',
      help: 'Asynchronous librbd reads/writes of transfers submitted and not completed (0 once every client is gone)', registers,
      collect() { this.set(transferLoad().aioInFlight); },
    });
    new Gauge({
      name: 'rbdapi_transfer_io_queued', help: 'Transfer I/Os waiting for a slot of the transfer budget (TRANSFER_IO_LIMIT)', registers,
      collect() { this.set(transferLoad().ioQueued); },
    });
    new Gauge({
      name: 'rbdapi_transfer_io_limit', registers,
      help: 'The transfer budget now: TRANSFER_IO_LIMIT while other API requests are served (or were within a second), TRANSFER_IO_BURST otherwise',
      collect() { this.set(transferLoad().ioLimit); },
    });
    new Gauge({
      name: 'rbdapi_ceph_connection_state', help: 'Ceph connection state (1 for the current state)', labelNames: ['state'], registers,
      collect() { for (const s of STATES) this.set({ state: s }, ceph.state === s ? 1 : 0); },
    });
    new Gauge({
      name: 'rbdapi_ceph_connected', help: '1 when connected to the Ceph cluster', registers,
      collect() { this.set(ceph.state === 'connected' ? 1 : 0); },
    });
    this.observer = (op, seconds, errno) => {
      this.cephCalls.observe({ op, result: errno ?? 'ok' }, seconds);
      if (errno) this.cephErrors.inc({ op, errno });
    };
    observeCephCalls(this.observer);
    // tasks: transitions this instance made, by action and the state entered; tasks running here now
    const taskTransitions = new Counter({
      name: 'rbdapi_task_transitions_total',
      help: 'Task transitions made by this instance, by action and the state entered (queued = submitted here)',
      labelNames: ['action', 'state'],
      registers,
    });
    new Gauge({
      name: 'rbdapi_tasks_running', help: 'Tasks this instance is running now', registers,
      collect() { this.set(ceph.tasks.runningCount); },
    });
    this.unsubscribeTasks = ceph.tasks.onTransition((t) => {
      if (t.from !== t.to) taskTransitions.inc({ action: t.task.action, state: t.to });
    });
    this.unsubscribeSchedules = this.observeSchedules(ceph, registers);
  }

  /** schedules (src/ceph/schedules/): slots claimed and missed here, runs ended here, snapshots taken and removed */
  private observeSchedules(ceph: CephClient, registers: Registry[]): () => void {
    const runs = new Counter({
      name: 'rbdapi_schedule_runs_total', help: 'Schedule slots this instance claimed (started), and runs it ended, by schedule and outcome',
      labelNames: ['schedule', 'outcome'], registers,
    });
    const missed = new Counter({
      name: 'rbdapi_schedule_missed_slots_total', help: 'Slots no replica took in time (downtime): only the latest missed slot is taken',
      labelNames: ['schedule'], registers,
    });
    const snapshots = new Counter({
      name: 'rbdapi_schedule_snapshots_total', help: 'Snapshots the schedules took (created) or retention removed (removed) or kept because of clones (kept)',
      labelNames: ['event'], registers,
    });
    return ceph.schedules.onEvent((e) => {
      switch (e.kind) {
        case 'claimed':
          runs.inc({ schedule: e.schedule, outcome: 'claimed' });
          if (e.missed > 0) missed.inc({ schedule: e.schedule }, e.missed);
          break;
        case 'run-ended': runs.inc({ schedule: e.schedule, outcome: e.outcome }); break;
        case 'snapshot-created': snapshots.inc({ event: 'created' }); break;
        case 'snapshot-removed': snapshots.inc({ event: 'removed' }); break;
        case 'retention-kept': snapshots.inc({ event: 'kept' }); break;
      }
    });
  }

  observeHttp(method: string, route: string | undefined, status: number, seconds: number): void {
    // unmatched URLs share one label so that scanners cannot blow up the label space
    this.http.observe({ method, route: route ?? 'unmatched', status: String(status) }, seconds);
  }

  get contentType(): string { return this.registry.contentType; }
  render(): Promise<string> { return this.registry.metrics(); }

  close(): void {
    observeCephCalls(undefined);
    this.unsubscribeTasks();
    this.unsubscribeSchedules();
    this.registry.clear();
  }
}
