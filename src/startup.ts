// Start-up: everything the service is built from, in one place — the configuration, the logger and the audit
// trail, TLS, the API tokens, the process settings (memory, worker priority, call concurrency, the stuck-call
// watchdog), the Ceph client and the HTTP app — and the ONE SIGHUP handler that fans out to every reloadable
// part (the audit file reopened for log rotation, the token file re-read, the TLS files re-checked).
// src/main.ts calls `buildService()`, then only listens and shuts down.
import { readFileSync, statSync } from 'node:fs';
import pino from 'pino';
import { CephClient } from './ceph/client.js';
import { configureTransfers } from './ceph/content/budget.js';
import { configureConcurrency, tuneProcessMemory } from './ceph/process.js';
import { watchOverdueCalls } from './ceph/call.js';
import { lowerWorkerPriority } from './ceph/worker-priority.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp, REDACT_PATHS } from './http/app.js';
import { TokenFileError, TokenStore } from './http/auth.js';
import { describeCertificate, httpsOptions, loadTls, TlsError, TlsReloader, tlsExpiryGauge, type SecureContextTarget, type TlsFiles, type TlsMaterial } from './http/tls.js';

/** A start that cannot go on (bad configuration, TLS or token file, unopenable audit file): exit status 2. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** What SIGHUP reloads, in the order they were added; one failing does not stop the others. */
export class Reloads {
  private readonly parts: { what: string; reload: () => void }[] = [];
  constructor(private readonly logger: pino.Logger) {}

  add(what: string, reload: () => void): void {
    this.parts.push({ what, reload });
  }

  get names(): string[] { return this.parts.map((p) => p.what); }

  run(why: string): void {
    for (const { what, reload } of this.parts) {
      try {
        reload();
      } catch (e) {
        this.logger.error({ reload: what, why, err: e instanceof Error ? e.message : String(e) }, 'reload failed');
      }
    }
  }

  /** the one SIGHUP handler of the process */
  listen(): void {
    process.on('SIGHUP', () => this.run('SIGHUP'));
  }
}

export interface Service {
  config: Config;
  logger: pino.Logger;
  ceph: CephClient;
  app: Awaited<ReturnType<typeof buildApp>>;
  reloads: Reloads;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** Reload the token file when it changes (a Kubernetes Secret update swaps the file) or on SIGHUP. */
function watchTokens(path: string, tokens: TokenStore, logger: pino.Logger, reloads: Reloads): void {
  let seen = stamp(path);
  const reload = (why: string) => {
    try {
      tokens.replaceWith(TokenStore.fromFile(path));
      logger.info({ tokens: tokens.size, why }, 'API tokens reloaded');
    } catch (e) {
      logger.error({ err: e instanceof Error ? e.message : String(e) }, 'API token file is invalid; keeping the previous tokens');
    }
  };
  setInterval(() => {
    const now = stamp(path);
    if (now !== seen) {
      seen = now;
      reload('file changed');
    }
  }, 10_000).unref();
  reloads.add('API tokens', () => reload('SIGHUP'));
}

/**
 * The audit trail's logger: a child of the service logger at level info whatever LOG_LEVEL says (same stream,
 * lines never interleave), or, with AUDIT_LOG_FILE, a file of its own (written synchronously, reopened on
 * SIGHUP for log rotation). A file that cannot be opened stops the start.
 */
function auditLogger(config: Config, logger: pino.Logger, reloads: Reloads): pino.Logger {
  if (!config.AUDIT_LOG_FILE) return logger.child({ audit: true }, { level: 'info' });
  let dest: ReturnType<typeof pino.destination>;
  try {
    dest = pino.destination({ dest: config.AUDIT_LOG_FILE, append: true, mkdir: true, sync: true });
  } catch (e) {
    throw new StartupError(`cannot open AUDIT_LOG_FILE ${config.AUDIT_LOG_FILE}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  reloads.add('audit log file', () => dest.reopen());
  logger.info({ file: config.AUDIT_LOG_FILE }, 'audit trail written to AUDIT_LOG_FILE');
  return pino({ level: 'info', base: { service: 'rbd-rest-api', audit: true }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}

/** HTTPS only when a certificate is configured; bad files stop the start. */
function tlsFromConfig(config: Config, logger: pino.Logger): { files: TlsFiles; material: TlsMaterial } | undefined {
  if (!config.TLS_CERT_FILE || !config.TLS_KEY_FILE) {
    logger.warn('TLS is off (TLS_CERT_FILE/TLS_KEY_FILE unset): tokens travel in clear text; set them (or REQUIRE_TLS=true) in production');
    return undefined;
  }
  const files: TlsFiles = { cert: config.TLS_CERT_FILE, key: config.TLS_KEY_FILE, ca: config.TLS_CA_FILE };
  let material: TlsMaterial;
  try {
    material = loadTls(files);
  } catch (e) {
    if (e instanceof TlsError) throw new StartupError(e.message);
    throw e;
  }
  if (material.validTo.getTime() < Date.now()) logger.error(describeCertificate(material), 'the TLS certificate has EXPIRED; clients will refuse it');
  logger.info({ ...describeCertificate(material), clientCertificates: Boolean(files.ca) }, 'HTTPS only: TLS certificate loaded');
  return { files, material };
}

/** The token file, watched and reloaded; undefined = authentication off. */
function tokensFromConfig(config: Config, logger: pino.Logger, reloads: Reloads): TokenStore | undefined {
  if (!config.API_TOKENS_FILE) {
    logger.warn('authentication is OFF (API_TOKENS_FILE unset): anyone who reaches the port can manage storage; set it in production');
    return undefined;
  }
  let tokens: TokenStore;
  try {
    tokens = TokenStore.fromFile(config.API_TOKENS_FILE);
  } catch (e) {
    if (e instanceof TokenFileError) throw new StartupError(e.message);
    throw e;
  }
  logger.info({ tokens: tokens.size }, 'authentication on: bearer tokens loaded');
  watchTokens(config.API_TOKENS_FILE, tokens, logger, reloads);
  return tokens;
}

/** Process-wide settings before any native work: memory, worker priority, call concurrency, the stuck-call watchdog. */
function tuneProcess(config: Config, logger: pino.Logger): void {
  tuneProcessMemory(2, config.MALLOC_TRIM_INTERVAL_MS);
  lowerWorkerPriority(config.WORKER_NICE);
  const pool = configureConcurrency(config.CEPH_CONCURRENCY, config.CEPH_QUEUE_LIMIT, config.CEPH_LONG_CONCURRENCY);
  configureTransfers({ ioLimit: config.TRANSFER_IO_LIMIT, ioBurst: config.TRANSFER_IO_BURST, readDepth: config.EXPORT_READ_DEPTH, chunkBytes: config.EXPORT_CHUNK_BYTES, idleMs: config.TRANSFER_IDLE_MS });
  // stuck-call watchdog: a call past this is counted (metric), logged once, and fails readiness when all are stuck
  const overdueMs = config.CEPH_CALL_OVERDUE_MS || Math.ceil(config.CEPH_OP_TIMEOUT * 1000 * 1.5) * 2;
  watchOverdueCalls(overdueMs, (op, ageMs, limiter) => {
    logger.warn({ op, ageMs: Math.round(ageMs), limiter, overdueAfterMs: overdueMs },
      'Ceph call running past its deadline: its slot and worker thread stay taken until it returns');
  });
  if (pool.limit < config.CEPH_CONCURRENCY) {
    logger.warn({ requested: config.CEPH_CONCURRENCY, effective: pool.limit, uvThreadpool: pool.threadpool },
      'CEPH_CONCURRENCY lowered to stay below UV_THREADPOOL_SIZE; raise UV_THREADPOOL_SIZE to allow more');
  } else {
    logger.info({ requested: config.CEPH_CONCURRENCY, effective: pool.limit, long: pool.longLimit, uvThreadpool: pool.threadpool },
      'Ceph call concurrency');
  }
}

function cephFromConfig(config: Config, logger: pino.Logger): CephClient {
  return new CephClient({
    confFile: config.CEPH_CONF,
    clientId: config.CEPH_CLIENT_ID,
    keyring: config.CEPH_KEYRING,
    clusterName: config.CEPH_CLUSTER,
    mountTimeout: config.CEPH_CONNECT_TIMEOUT,
    monOpTimeout: config.CEPH_OP_TIMEOUT,
    osdOpTimeout: config.CEPH_OP_TIMEOUT,
    operationTimeoutMs: Math.ceil(config.CEPH_OP_TIMEOUT * 1000 * 1.5),
    tasks: {
      leaseMs: config.TASK_LEASE_MS,
      scanMs: config.TASK_SCAN_MS,
      progressMs: config.TASK_PROGRESS_MS,
      run: config.TASK_RUNNER === 'on',
      retentionMs: config.TASK_RETENTION_DAYS * 86_400_000,
      pools: config.TASK_POOLS,
    },
    locks: { waitMs: config.MUTATION_LOCK_WAIT_MS, leaseMs: config.MUTATION_LOCK_LEASE_MS },
    cloneDepth: { soft: config.CLONE_DEPTH_SOFT, hard: config.CLONE_DEPTH_HARD },
    schedules: { minIntervalMs: config.SCHEDULE_MIN_INTERVAL * 1000 },
  }, {
    onStateChange: (state, error) => {
      const err = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
      if (state === 'connected') logger.info({ ceph: state, client: `client.${config.CEPH_CLIENT_ID}` }, 'connected to Ceph');
      else logger.warn({ ceph: state, err }, `Ceph connection ${state}`);
    },
  });
}

/**
 * Build the service from the environment: nothing listens and the Ceph client is not started yet (main.ts
 * does both). Throws StartupError for anything the operator must fix.
 */
export async function buildService(env: NodeJS.ProcessEnv = process.env): Promise<Service> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) throw new StartupError(e.message);
    throw e;
  }
  const logger = pino({
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'rbd-rest-api' },
  });
  const reloads = new Reloads(logger);
  const audit = auditLogger(config, logger, reloads);
  const tls = tlsFromConfig(config, logger);
  const tokens = tokensFromConfig(config, logger, reloads);
  tuneProcess(config, logger);
  const ceph = cephFromConfig(config, logger);

  const app = await buildApp({
    ceph,
    logger: false,
    version: version(),
    settings: {
      detailsConcurrency: config.DETAILS_CONCURRENCY,
      bodyLimit: config.BODY_LIMIT,
      readyCacheMs: config.READY_CACHE_MS,
      readyTimeoutMs: config.READY_TIMEOUT_MS,
      import: { maxBytes: config.IMPORT_MAX_BYTES, idleMs: config.IMPORT_IDLE_MS, writesInFlight: config.IMPORT_WRITES_IN_FLIGHT },
    },
    loggerInstance: logger,
    auth: tokens,
    corsOrigins: config.CORS_ORIGINS,
    rateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    audit,
    https: tls ? httpsOptions(tls.material) : undefined,
  });

  if (tls) {
    // new certificates (Secret update, cert-manager renewal) go in without a restart or a dropped connection
    const reloader = new TlsReloader(tls.files, app.server as unknown as SecureContextTarget, tls.material, logger,
      { intervalMs: config.TLS_RELOAD_INTERVAL_MS });
    reloader.start();
    reloads.add('TLS certificate', () => reloader.check('SIGHUP'));
    tlsExpiryGauge(app.metrics.registry, reloader);
  }
  reloads.listen();
  return { config, logger, ceph, app, reloads };
}
