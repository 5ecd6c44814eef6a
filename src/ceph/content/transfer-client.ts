// Downloads' own librados client. A download keeps up to 16 MiB of reads in flight per image (budget.ts); on the
// request client, their replies share the OSD connections with a plain request's small answers. On a client of
// their own they travel on their own connections, and the OSDs' queues, which serve clients in turn, share out
// between the two. Measured alone it made no clear difference (4 downloads + 4 uploads, GET p99 9.5 s → 8.4 s,
// within run-to-run noise); what brought the p99 down was the shared budget (budget.ts, docs/benchmarks.md
// "Transfers at once"). (Uploads run as tasks, already on the task runners' clients: tasks/runner-clients.ts.)
//
// Made on the first download and kept; remade after it was blocklisted or lost; closed with the Ceph client.
import { CephConnection, type CephSession, type MonCommandResult } from '../connection.js';
import { CephError } from '../errors.js';
import type { Handle } from '../handle.js';
import type { Pointer } from '../../native/types.js';
import { RunnerClient, type RunnerClientOptions } from '../tasks/runner-clients.js';

export class TransferClient implements CephSession {
  #client: Promise<RunnerClient> | undefined;
  #closed = false;

  constructor(private readonly opts: RunnerClientOptions) {}

  private client(): Promise<RunnerClient> {
    if (this.#closed) return Promise.reject(CephError.closed('transfer_connect'));
    const current = this.#client;
    if (current) {
      return current.then((c) => {
        if (!c.fenced) return c;
        if (this.#client === current) this.#client = undefined;
        void c.close().catch(() => undefined);
        return this.client();
      });
    }
    const made = CephConnection.connect(this.opts).then(async (conn) => {
      if (this.#closed) {
        await conn.close();
        throw CephError.closed('transfer_connect');
      }
      return new RunnerClient(conn, this.opts.operationTimeoutMs);
    });
    this.#client = made;
    made.catch(() => { if (this.#client === made) this.#client = undefined; }); // a failed connect is tried again next time
    return made;
  }

  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T> {
    return this.client().then((c) => c.withCluster(op, fn));
  }

  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.client().then((c) => c.withIoctx(pool, fn));
  }

  /** withIoctx without the per-operation deadline: a download's reads last as long as the download. */
  withIoctxLong<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.client().then((c) => c.withIoctxLong(pool, fn));
  }

  monCommand(command: Record<string, unknown>, target?: string): Promise<MonCommandResult> {
    return this.client().then((c) => c.monCommand(command, target));
  }

  forgetPool(pool: string): void {
    void this.#client?.then((c) => c.forgetPool(pool), () => undefined);
  }

  /** Close it (after the downloads ended: CephClient.close). */
  async close(): Promise<void> {
    this.#closed = true;
    const c = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    await c?.close().catch(() => undefined);
  }
}
