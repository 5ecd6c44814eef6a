// Entry point: build the service (src/startup.ts: configuration, TLS, tokens, audit, the Ceph client, the app
// and the SIGHUP reloads), start the Ceph client, listen; on SIGTERM/SIGINT, shut down gracefully.
import { writeSync } from 'node:fs';
import { nativeLoad } from './ceph/process.js';
import { buildService, StartupError, type Service } from './startup.js';

async function main(): Promise<void> {
  let service: Service;
  try {
    service = await buildService();
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`rbd-rest-api: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const { config, logger, ceph, app } = service;
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
