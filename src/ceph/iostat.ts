// Per-image I/O statistics from the mgr's rbd_support module (`rbd perf image stats`, as `rbd perf image iostat`
// shows them): read/write operations and bytes per second and latency per operation, for the top 64 images
// of a pool spec. The first request registers an OSD perf query in the mgr, which expires after a minute
// without a request: while consoles poll, this process keeps asking every 30 s (for 5 minutes after the last
// poll) so the query stays registered and rates stay available.
import { radosCluster } from '../native/rados-cluster.js';
import { takeRadosBuffer } from '../native/memory.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { type CephSession } from './connection.js';
import { CephError } from './errors.js';
import { splitPoolSpec } from './spec.js';

export const IOSTAT_SORT_KEYS = ['write_ops', 'write_bytes', 'write_latency', 'read_ops', 'read_bytes', 'read_latency'] as const;
export type IostatSortKey = (typeof IOSTAT_SORT_KEYS)[number];

export interface ImageIostat {
  pool: string;
  namespace: string;
  image: string;
  writeOps: number;
  readOps: number;
  writeBytes: number;
  readBytes: number;
  /** nanoseconds per operation */
  writeLatencyNs: number;
  readLatencyNs: number;
}

export interface IostatReport {
  /** false until the mgr has had time to take two samples since the query was registered */
  ready: boolean;
  /** when the mgr made the report */
  timestamp: string;
  items: ImageIostat[];
}

interface StatsJson {
  timestamp?: number;
  stat_descriptors?: string[];
  pool_descriptors?: Record<string, string>;
  stats?: Record<string, number[]>[];
}

/** How long a spec must have been polled before an empty report means "no I/O" rather than "not yet". */
const WARMUP_MS = 15_000;
/** The mgr forgets a query after a minute without a request. */
const QUERY_EXPIRE_MS = 60_000;
const KEEPALIVE_EVERY_MS = 30_000;
const KEEPALIVE_FOR_MS = 5 * 60_000;

/** rados_mgr_command with one JSON command; the output and status strings. */
export function mgrCommand(conn: CephSession, command: Record<string, unknown>): Promise<{ out: string; status: string }> {
  const op = `mgr_command(${String(command.prefix)})`;
  return conn.withCluster(op, async (cluster: Pointer) => {
    const outbuf: [Pointer | null] = [null];
    const outlen: [number] = [0];
    const outs: [Pointer | null] = [null];
    const outslen: [number] = [0];
    const rc = await native<number>(op, radosCluster.mgrCommand, cluster, [JSON.stringify(command)], 1, null, 0, outbuf, outlen, outs, outslen);
    const out = takeRadosBuffer(outbuf[0], outlen[0]);
    const status = takeRadosBuffer(outs[0], outslen[0]);
    if (rc < 0) throw new CephError('cluster', op, rc, status.trim() || undefined);
    return { out, status };
  });
}

interface Watch { since: number; last: number; timer: NodeJS.Timeout | undefined }

export class ImageIostatReader {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly conn: CephSession) {}

  /** The top images of a pool spec ("pool": every namespace of it; "pool/ns": one namespace). */
  async pool(spec: string, sortBy: IostatSortKey = 'write_ops'): Promise<IostatReport> {
    const now = Date.now();
    const prev = this.watches.get(spec);
    const fresh = !prev || now - prev.last > QUERY_EXPIRE_MS;
    const { out } = await mgrCommand(this.conn, { prefix: 'rbd perf image stats', pool_spec: spec, sort_by: sortBy, format: 'json' });
    const watch: Watch = fresh ? { since: now, last: now, timer: prev?.timer } : { ...prev!, last: now };
    this.watches.set(spec, watch);
    this.keepAlive(spec, watch);
    const parsed = parseStats(out);
    return {
      ready: parsed.items.length > 0 || now - watch.since >= WARMUP_MS,
      timestamp: parsed.timestamp,
      items: parsed.items,
    };
  }

  /** One image's figures (zeros when it is not among the top 64 or had no I/O). */
  async image(spec: string, image: string): Promise<IostatReport & { stats: ImageIostat; listed: boolean }> {
    const report = await this.pool(spec);
    const { pool, namespace } = splitPoolSpec(spec);
    const found = report.items.find((i) => i.pool === pool && i.namespace === namespace && i.image === image);
    return {
      ...report,
      listed: found !== undefined,
      stats: found ?? { pool, namespace, image, writeOps: 0, readOps: 0, writeBytes: 0, readBytes: 0, writeLatencyNs: 0, readLatencyNs: 0 },
    };
  }

  /** Stop the keep-alive timers (when the service shuts down). */
  close(): void {
    for (const w of this.watches.values()) clearTimeout(w.timer);
    this.watches.clear();
  }

  private keepAlive(spec: string, watch: Watch): void {
    if (watch.timer) return;
    const tick = (): void => {
      const w = this.watches.get(spec);
      if (!w) return;
      if (Date.now() - w.last > KEEPALIVE_FOR_MS) {
        this.watches.delete(spec);
        return;
      }
      void mgrCommand(this.conn, { prefix: 'rbd perf image stats', pool_spec: spec, format: 'json' }).catch(() => undefined)
        .finally(() => {
          if (this.watches.get(spec) === w) {
            w.timer = setTimeout(tick, KEEPALIVE_EVERY_MS);
            w.timer.unref();
          }
        });
    };
    watch.timer = setTimeout(tick, KEEPALIVE_EVERY_MS);
    watch.timer.unref();
  }
}

/** The mgr's report: {"pool_descriptors": {"0": "pool[/ns]"}, "stats": [{"0/image": [6 values]}]}. */
export function parseStats(out: string): { timestamp: string; items: ImageIostat[] } {
  let json: StatsJson = {};
  try {
    json = out.trim() ? JSON.parse(out) as StatsJson : {};
  } catch {
    json = {};
  }
  const descriptors = json.stat_descriptors ?? ['write_ops', 'read_ops', 'write_bytes', 'read_bytes', 'write_latency', 'read_latency'];
  const at = (values: number[], name: string): number => {
    const i = descriptors.indexOf(name);
    const v = i >= 0 ? values[i] : undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  };
  const items: ImageIostat[] = [];
  for (const entry of json.stats ?? []) {
    for (const [key, values] of Object.entries(entry)) {
      const slash = key.indexOf('/');
      if (slash < 0 || !Array.isArray(values)) continue;
      const poolSpec = json.pool_descriptors?.[key.slice(0, slash)];
      if (poolSpec === undefined) continue;
      const { pool, namespace } = splitPoolSpec(poolSpec);
      items.push({
        pool, namespace, image: key.slice(slash + 1),
        writeOps: at(values, 'write_ops'), readOps: at(values, 'read_ops'),
        writeBytes: at(values, 'write_bytes'), readBytes: at(values, 'read_bytes'),
        writeLatencyNs: at(values, 'write_latency'), readLatencyNs: at(values, 'read_latency'),
      });
    }
  }
  const ts = typeof json.timestamp === 'number' ? new Date(json.timestamp * 1000).toISOString() : new Date().toISOString();
  return { timestamp: ts, items };
}
