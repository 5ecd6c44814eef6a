// Entry point: configuration, the Ceph client, the HTTP app, listening, graceful shutdown.
import { readFileSync, statSync } from 'node:fs';
import pino from 'pino';
import { CephClient } from './ceph/client.js';
import { configureConcurrency, tuneProcessMemory } from './ceph/connection.js';
import { lowerWorkerPriority } from './ceph/worker-priority.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp, REDACT_PATHS } from './http/app.js';
import { TokenFileError, TokenStore } from './http/auth.js';

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

  const pool = configureConcurrency(config.CEPH_CONCURRENCY, config.CEPH_QUEUE_LIMIT);
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
  });

  await ceph.start();
  await app.listen({ host: config.HOST, port: config.PORT });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: not ready, finishing requests in flight');
    app.readiness.drain();
    // keep-alive connections that go idle during the drain are closed, so close() does not wait on them
    setInterval(() => app.server.closeIdleConnections(), 100).unref();
    const force = setTimeout(() => {
      logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    try {
      await app.close(); // stops accepting, waits for in-flight requests
      await ceph.close(); // waits for Ceph calls, then rados_shutdown
      logger.info('stopped');
      logger.flush?.();
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
