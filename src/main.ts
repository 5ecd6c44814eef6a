// Entry point: configuration, the Ceph client, the HTTP app, listening, graceful shutdown.
import { readFileSync, statSync, writeSync } from 'node:fs';
import pino from 'pino';
import { CephClient } from './ceph/client.js';
import { configureConcurrency, nativeLoad, tuneProcessMemory } from './ceph/connection.js';
import { configureTransfers } from './ceph/content/budget.js';
import { watchOverdueCalls } from './ceph/call.js';
import { lowerWorkerPriority } from './ceph/worker-priority.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp, REDACT_PATHS } from './http/app.js';
import { TokenFileError, TokenStore } from './http/auth.js';
import { describeCertificate, httpsOptions, loadTls, TlsError, TlsReloader, tlsExpiryGauge, type SecureContextTarget, type TlsFiles, type TlsMaterial } from './http/tls.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Reload the token file when it changes (a Kubernetes Secret update swaps the file) or on SIGHUP. */
function watchTokens(path: string, tokens: TokenStore, logger: pino.Logger): void {
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
  process.on('SIGHUP', () => reload('SIGHUP'));
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The audit trail's logger: a child of the service logger at level info whatever LOG_LEVEL says (same stream,
 * lines never interleave), or, with AUDIT_LOG_FILE, a file of its own (written synchronously, reopened on
 * SIGHUP for log rotation). A file that cannot be opened stops the start.
 */
function auditLogger(config: Config, logger: pino.Logger): pino.Logger {
  if (!config.AUDIT_LOG_FILE) return logger.child({ audit: true }, { level: 'info' });
  let dest: ReturnType<typeof pino.destination>;
  try {
    dest = pino.destination({ dest: config.AUDIT_LOG_FILE, append: true, mkdir: true, sync: true });
  } catch (e) {
    process.stderr.write(`rbd-rest-api: cannot open AUDIT_LOG_FILE ${config.AUDIT_LOG_FILE}: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
    process.exit(2);
  }
  process.on('SIGHUP', () => dest.reopen());
  logger.info({ file: config.AUDIT_LOG_FILE }, 'audit trail written to AUDIT_LOG_FILE');
  return pino({ level: 'info', base: { service: 'rbd-rest-api', audit: true }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`rbd-rest-api: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'rbd-rest-api' },
  });
  const audit = auditLogger(config, logger);

  // HTTPS only when a certificate is configured; bad files stop the start
  const tlsFiles: TlsFiles | undefined = config.TLS_CERT_FILE && config.TLS_KEY_FILE
    ? { cert: config.TLS_CERT_FILE, key: config.TLS_KEY_FILE, ca: config.TLS_CA_FILE } : undefined;
  let tlsMaterial: TlsMaterial | undefined;
  if (tlsFiles) {
    try {
      tlsMaterial = loadTls(tlsFiles);
    } catch (e) {
      if (e instanceof TlsError) {
        process.stderr.write(`rbd-rest-api: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    if (tlsMaterial.validTo.getTime() < Date.now()) logger.error(describeCertificate(tlsMaterial), 'the TLS certificate has EXPIRED; clients will refuse it');
    logger.info({ ...describeCertificate(tlsMaterial), clientCertificates: Boolean(tlsFiles.ca) }, 'HTTPS only: TLS certificate loaded');
  } else {
    logger.warn('TLS is off (TLS_CERT_FILE/TLS_KEY_FILE unset): tokens travel in clear text; set them (or REQUIRE_TLS=true) in production');
  }

  let tokens: TokenStore | undefined;
  if (config.API_TOKENS_FILE) {
    try {
      tokens = TokenStore.fromFile(config.API_TOKENS_FILE);
    } catch (e) {
      if (e instanceof TokenFileError) {
        process.stderr.write(`rbd-rest-api: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    logger.info({ tokens: tokens.size }, 'authentication on: bearer tokens loaded');
    watchTokens(config.API_TOKENS_FILE, tokens, logger);
  } else {
    logger.warn('authentication is OFF (API_TOKENS_FILE unset): anyone who reaches the port can manage storage; set it in production');
  }

  tuneProcessMemory(2, config.MALLOC_TRIM_INTERVAL_MS);
  lowerWorkerPriority(config.WORKER_NICE);

  const pool = configureConcurrency(config.CEPH_CONCURRENCY, config.CEPH_QUEUE_LIMIT, config.CEPH_LONG_CONCURRENCY);
  configureTransfers({ ioLimit: config.TRANSFER_IO_LIMIT, readDepth: config.EXPORT_READ_DEPTH, chunkBytes: config.EXPORT_CHUNK_BYTES, idleMs: config.TRANSFER_IDLE_MS });
  // stuck-call watchdog: a call past this is counted (metric), logged once, and fails readiness when all are stuck
  const overdueMs = config.CEPH_CALL_OVERDUE_MS || Math.ceil(config.CEPH_OP_TIMEOUT * 1000 * 1.5) * 2;
  watchOverdueCalls(overdueMs, (op, ageMs, limiter) => {
    logger.warn({ op, ageMs: Math.round(ageMs), limiter, overdueAfterMs: overdueMs },
      'Ceph call running past its deadline: its slot and worker thread stay taken until it returns');
  });
  if (pool.limit < config.CEPH_CONCURRENCY) {
    logger.warn({ requested: config.CEPH_CONCURRENCY, effective: pool.limit, uvThreadpool: pool.threadpool },
      'CEPH_CONCURRENCY lowered to stay below UV_THREADPOOL_SIZE; raise UV_THREADPOOL_SIZE to allow more');
  }

  const ceph = new CephClient({
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
    },
    locks: { waitMs: config.MUTATION_LOCK_WAIT_MS, leaseMs: config.MUTATION_LOCK_LEASE_MS },
  }, {
    onStateChange: (state, error) => {
      const err = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
      if (state === 'connected') logger.info({ ceph: state, client: `client.${config.CEPH_CLIENT_ID}` }, 'connected to Ceph');
      else logger.warn({ ceph: state, err }, `Ceph connection ${state}`);
    },
  });

  const app = await buildApp({
    ceph,
    logger: false,
    version: version(),
    settings: {
      detailsConcurrency: config.DETAILS_CONCURRENCY,
      bodyLimit: config.BODY_LIMIT,
      readyCacheMs: config.READY_CACHE_MS,
      readyTimeoutMs: config.READY_TIMEOUT_MS,
    },
    loggerInstance: logger,
    auth: tokens,
    corsOrigins: config.CORS_ORIGINS,
    rateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    audit,
    https: tlsMaterial ? httpsOptions(tlsMaterial) : undefined,
  });

  await ceph.start();
  await app.listen({ host: config.HOST, port: config.PORT });
  if (tlsFiles && tlsMaterial) {
    // new certificates (Secret update, cert-manager renewal) go in without a restart or a dropped connection
    const reloader = new TlsReloader(tlsFiles, app.server as unknown as SecureContextTarget, tlsMaterial, logger,
      { intervalMs: config.TLS_RELOAD_INTERVAL_MS });
    reloader.start();
    process.on('SIGHUP', () => reloader.check('SIGHUP'));
    tlsExpiryGauge(app.metrics.registry, reloader);
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: not ready, finishing requests in flight');
    app.readiness.drain();
    // keep-alive connections that go idle during the drain are closed, so close() does not wait on them
    setInterval(() => app.server.closeIdleConnections(), 100).unref();
    const force = setTimeout(() => {
      // pino writes asynchronously (a write the kill below would lose): this line goes out synchronously
      writeSync(1, `${JSON.stringify({ level: 50, time: Date.now(), service: 'rbd-rest-api', timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
        msg: 'graceful shutdown timed out; exiting without waiting for Ceph calls' })}\n`);
      // process.exit() joins libuv's worker threads, and a thread stuck inside librbd never returns: the
      // process would hang there for good. SIGKILL ends it whatever its threads are doing.
      process.kill(process.pid, 'SIGKILL');
    }, config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    try {
      await app.close(); // stops accepting, waits for in-flight requests
      await ceph.close(); // waits for Ceph calls, then rados_shutdown
      logger.info('stopped');
      logger.flush?.();
      // a call still on a worker thread (stuck, or a long call) would make process.exit() wait for it forever
      const load = nativeLoad();
      if (load.inFlight + load.longInFlight > 0) process.kill(process.pid, 'SIGKILL');
      process.exit(0);
    } catch (e) {
      logger.error({ err: e }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`rbd-rest-api: failed to start: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
