// Environment → validated configuration. Every setting the service reads comes through here.
import { z } from 'zod';
import { parseCorsOrigins } from './http/plugins/cors.js';

const int = (min: number, max: number, def: number) =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(min).max(max).default(def);
const seconds = (def: number) => z.coerce.number({ error: 'must be a number of seconds' }).positive().max(3600).default(def);
const bool = (def: boolean) =>
  z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default(def ? 'true' : 'false').transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalPath = z.string().trim().min(1).optional();

export const configSchema = z.object({
  CEPH_CONF: optionalPath.describe('path of ceph.conf (default: librados search, /etc/ceph/ceph.conf)'),
  CEPH_CLIENT_ID: z.string().trim()
    .regex(/^[A-Za-z0-9_.-]+$/, 'must be a cephx id such as "admin" or "rbdapi"')
    .refine((v) => !v.startsWith('client.'), 'give the id without "client." (as `ceph --id` takes it)')
    .default('admin'),
  CEPH_KEYRING: optionalPath,
  CEPH_CLUSTER: z.string().regex(/^[A-Za-z0-9_-]+$/).default('ceph'),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: int(0, 65535, 8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** librados client_mount_timeout */
  CEPH_CONNECT_TIMEOUT: seconds(10),
  /** rados_mon_op_timeout and rados_osd_op_timeout; also the deadline of each API call's Ceph work */
  CEPH_OP_TIMEOUT: seconds(10),
  /**
   * a Ceph call running longer than this is counted as stuck (rbdapi_ceph_calls_overdue, one warning each;
   * /readyz fails when every slot holds one); 0 = 2 x the request deadline (3 x CEPH_OP_TIMEOUT)
   */
  CEPH_CALL_OVERDUE_MS: int(0, 86_400_000, 0),
  /** Ceph calls in flight at once (kept below UV_THREADPOOL_SIZE) */
  CEPH_CONCURRENCY: int(1, 512, 16),
  /** long Ceph calls (flatten, copy, rollback, trash removal, shrink) at once: their own budget, apart from CEPH_CONCURRENCY */
  CEPH_LONG_CONCURRENCY: int(1, 16, 2),
  /** a task runner's lease in RADOS, ms (renewed every third of it; another replica takes over once it expires) */
  TASK_LEASE_MS: int(3000, 600_000, 15_000),
  /** how long a request waits for an image's mutation lock (other changes of it) before 503 CEPH_BUSY, ms */
  MUTATION_LOCK_WAIT_MS: int(100, 600_000, 10_000),
  /** the mutation lock's lease in RADOS, ms: how long a killed or frozen holder blocks an image (renewed every third) */
  MUTATION_LOCK_LEASE_MS: int(3000, 600_000, 15_000),
  /** how often every replica looks for queued tasks and expired leases, ms */
  TASK_SCAN_MS: int(200, 600_000, 2000),
  /** how often a running task's progress may be written, ms */
  TASK_PROGRESS_MS: int(100, 60_000, 500),
  /** finished tasks are kept this many days (0 = for ever) */
  TASK_RETENTION_DAYS: int(0, 3650, 7),
  /**
   * the pools whose tasks and schedules this replica runs: comma-separated names, `*` = any run of characters
   * (`tenant-a-*,shared`); default every pool. A task submitted to this replica still starts here.
   */
  TASK_POOLS: z.string().trim().default('*')
    .refine((s) => s.split(',').every((p) => p.trim().length > 0 && p.trim().length <= 256), { error: 'must be comma-separated pool names or patterns with *' })
    .transform((s) => s.split(',').map((p) => p.trim())),
  /** off: this replica submits and reads tasks but runs none */
  TASK_RUNNER: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  /** the shortest interval (`every`) a snapshot or trash purge schedule may have, seconds (tests use 1) */
  SCHEDULE_MIN_INTERVAL: int(1, 86_400, 60),
  /** Ceph calls allowed to wait for a slot before requests get 503 + Retry-After */
  CEPH_QUEUE_LIMIT: int(0, 100_000, 2048),
  /** images read at once when a listing asks for details (header reads, or opens for images with snapshots) */
  DETAILS_CONCURRENCY: int(1, 64, 8),
  /** asynchronous librbd I/Os all downloads (and uploads) keep in flight together: their own budget, apart from CEPH_CONCURRENCY */
  TRANSFER_IO_LIMIT: int(1, 1024, 4),
  /** the same while the service serves nothing but transfers (no other API request in the last second); below TRANSFER_IO_LIMIT counts as it */
  TRANSFER_IO_BURST: int(1, 1024, 16),
  /** reads one download keeps in flight, and the bytes of each (memory per download ≈ depth × chunk) */
  EXPORT_READ_DEPTH: int(1, 64, 4),
  EXPORT_CHUNK_BYTES: int(65_536, 64 * 1024 * 1024, 4 * 1024 * 1024),
  /** a download whose client takes no data for this long is dropped, ms */
  TRANSFER_IDLE_MS: int(1000, 3_600_000, 30_000),
  /** maximum request body in bytes */
  BODY_LIMIT: int(256, 10 * 1024 * 1024, 64 * 1024),
  /** imports (PUT …/images/{image}/content): the largest body and new image, bytes (default 1 TiB) */
  IMPORT_MAX_BYTES: int(0, Number.MAX_SAFE_INTEGER, 2 ** 40),
  /** an upload that sends nothing for this long is dropped and leaves nothing, ms */
  IMPORT_IDLE_MS: int(1000, 3_600_000, 30_000),
  /** librbd writes in flight per import (4 MiB each at most: memory per import) */
  IMPORT_WRITES_IN_FLIGHT: int(1, 64, 8),
  /** readiness: how long a cluster check result is reused, and how long one check may take */
  READY_CACHE_MS: int(0, 60_000, 2000),
  READY_TIMEOUT_MS: int(100, 60_000, 2000),
  /** bearer tokens (one per line: `token scopes [pools]`); unset = no authentication */
  API_TOKENS_FILE: optionalPath,
  /** refuse to start without API_TOKENS_FILE */
  REQUIRE_AUTH: bool(false),
  /** every this many ms, hand freed heap pages back to the kernel (glibc malloc_trim); 0 = never */
  MALLOC_TRIM_INTERVAL_MS: int(0, 3_600_000, 10_000),
  /** nice value for every thread but the event loop's (librbd/librados and libuv workers); 0 = leave them */
  WORKER_NICE: int(0, 19, 10),
  /** graceful shutdown: how long in-flight requests may take after SIGTERM */
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 20_000),
  /** requests per second per token (per client address when authentication is off); 0 = no limit */
  RATE_LIMIT_PER_SECOND: z.coerce.number({ error: 'must be a number' }).min(0).max(1_000_000).default(100),
  /** requests a token may send at once (the token bucket's size); a provisioning burst of 200 PUTs passes */
  RATE_LIMIT_BURST: int(1, 1_000_000, 400),
  /** HTTPS only: PEM certificate (chain) and private key; re-read when they change */
  TLS_CERT_FILE: optionalPath,
  TLS_KEY_FILE: optionalPath,
  /** PEM CA bundle: API routes then need a client certificate it signed (probes and /metrics do not) */
  TLS_CA_FILE: optionalPath,
  /** refuse to start without TLS_CERT_FILE and TLS_KEY_FILE */
  REQUIRE_TLS: bool(false),
  /** how often the TLS files are checked besides file-change events (fs.watch); 0 = events only */
  TLS_RELOAD_INTERVAL_MS: int(0, 3_600_000, 10_000),
  /** clone depth (parent links above a new clone) beyond which a clone also gets a flatten task queued (ceph-csi: 4) */
  CLONE_DEPTH_SOFT: int(1, 14, 4),
  /** clone depth beyond which a clone is refused with 409 CLONE_TOO_DEEP (ceph-csi: 8, at most 14) */
  CLONE_DEPTH_HARD: int(1, 14, 8),
  /** write the audit trail to this file (appended; reopened on SIGHUP) instead of stdout with the service log */
  AUDIT_LOG_FILE: optionalPath,
  /** origins (comma list, or *) whose browser pages may call the API; unset = no CORS headers */
  CORS_ORIGINS: z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return parseCorsOrigins(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate; throws ConfigError naming every bad variable. Empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const config = parsed.data;
  if (config.REQUIRE_AUTH && !config.API_TOKENS_FILE) {
    throw new ConfigError(['REQUIRE_AUTH=true but API_TOKENS_FILE is not set']);
  }
  if (config.CLONE_DEPTH_SOFT > config.CLONE_DEPTH_HARD) {
    throw new ConfigError([`CLONE_DEPTH_SOFT (${config.CLONE_DEPTH_SOFT}) must not exceed CLONE_DEPTH_HARD (${config.CLONE_DEPTH_HARD})`]);
  }
  const tls: string[] = [];
  if (config.TLS_CERT_FILE && !config.TLS_KEY_FILE) tls.push('TLS_CERT_FILE is set but TLS_KEY_FILE is not (both are needed for HTTPS)');
  if (config.TLS_KEY_FILE && !config.TLS_CERT_FILE) tls.push('TLS_KEY_FILE is set but TLS_CERT_FILE is not (both are needed for HTTPS)');
  if (config.TLS_CA_FILE && !(config.TLS_CERT_FILE && config.TLS_KEY_FILE)) tls.push('TLS_CA_FILE (client certificates) needs TLS_CERT_FILE and TLS_KEY_FILE');
  if (config.REQUIRE_TLS && !(config.TLS_CERT_FILE && config.TLS_KEY_FILE)) tls.push('REQUIRE_TLS=true but TLS_CERT_FILE and TLS_KEY_FILE are not both set');
  if (tls.length) throw new ConfigError(tls);
  return config;
}
