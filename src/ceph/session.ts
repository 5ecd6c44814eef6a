// Sessions over a CephConnection that its subclass hands out and bounds (the service's client, a task run's
// own client), and the deadline of one operation.
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import type { CallTrace } from './call.js';
import type { CephConnection, CephSession, MonCommandResult } from './connection.js';
import { CephError } from './errors.js';
import type { Handle } from './handle.js';

/** A deadline error whose work goes on: `pending` settles when it really ends. */
export type StillRunning = CephError & { pending?: Promise<unknown> };

/**
 * Reject when `promise` takes longer than `ms` (the work itself goes on; the error's `pending` follows it).
 * With a trace: ETIMEDOUT names the native call that was running; if the work was only waiting for a local
 * slot, it is a `busy` error (503 CEPH_BUSY), not "the cluster did not answer".
 */
export function withDeadline<T>(op: string, ms: number, promise: Promise<T>, trace?: CallTrace): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e: StillRunning = trace && trace.queued > 0 && trace.running === 0
        ? new CephError('cluster', trace.op ?? op, -E.EAGAIN, `waited ${ms} ms for a free Ceph slot in this instance`, 'busy')
        : new CephError('cluster', trace?.op ?? op, -E.ETIMEDOUT, `no answer within ${ms} ms`);
      e.pending = promise.then(() => undefined, () => undefined);
      reject(e);
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A session that reaches Ceph through a CephConnection its subclass hands out (and bounds) in `run`: the
 * service's client (which reconnects) and a task run's own client share these calls.
 */
export abstract class ConnectionSession implements CephSession {
  protected abstract run<T>(op: string, fn: (c: CephConnection) => Promise<T>, bounded?: boolean): Promise<T>;
  abstract forgetPool(pool: string): void;

  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T> {
    return this.run(op, (c) => c.withCluster(op, fn));
  }

  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.run('rados_ioctx_create', (c) => c.withIoctx(pool, fn));
  }

  /** withIoctx without the per-operation deadline: for task runners (calls that may take minutes). */
  withIoctxLong<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.run('rados_ioctx_create', (c) => c.withIoctx(pool, fn), false);
  }

  monCommand(command: Record<string, unknown>, target?: string): Promise<MonCommandResult> {
    return this.run(`mon_command(${String(command.prefix)})`, (c) => c.monCommand(command, target));
  }
}
