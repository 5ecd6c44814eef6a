// HTTPS: a CA and certificates made with `openssl` here; the service process serves HTTPS only (plain HTTP
// refused), takes a rotated certificate without a restart — a Kubernetes-style Secret update (the `..data`
// symlink swapped) — while an open keep-alive connection keeps working, refuses a bad rotation and keeps the
// old certificate, refuses to start with missing/bad files or REQUIRE_TLS without them, and with TLS_CA_FILE
// asks API callers for a client certificate while probes stay open.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { httpsOptions, loadTls, TlsReloader } from '../../src/http/tls.js';
import { serviceEnv } from '../helpers/cluster.js';
import { startExpectingExit, startService, type Service } from '../helpers/service.js';

const dir = mkdtempSync(join(tmpdir(), 'tls-test-'));
const f = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name} test CA`);
}
/** a certificate `name` signed by `ca`, with the given serial, for a server (127.0.0.1) or a client */
function makeCert(name: string, ca: string, serial: string, usage: 'serverAuth' | 'clientAuth'): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
    '-subj', `/CN=${usage === 'serverAuth' ? '127.0.0.1' : name}`);
  writeFileSync(f(`${name}.ext`), usage === 'serverAuth'
    ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', `0x${serial}`, '-days', '1',
    '-out', `${name}.crt`, '-extfile', `${name}.ext`);
}

/** A Kubernetes Secret volume: files are symlinks through `..data`, which an update swaps atomically. */
class SecretDir {
  private version = 0;
  constructor(readonly path: string) { mkdirSync(path); }
  get cert() { return join(this.path, 'tls.crt'); }
  get key() { return join(this.path, 'tls.key'); }
  get ca() { return join(this.path, 'ca.crt'); }
  write(files: { 'tls.crt': Buffer | string; 'tls.key': Buffer | string; 'ca.crt'?: Buffer | string }): void {
    const previous = this.version ? join(this.path, `..v${this.version}`) : undefined;
    const next = `..v${++this.version}`;
    mkdirSync(join(this.path, next));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.path, next, name), content);
    symlinkSync(next, join(this.path, '..data_tmp'));
    renameSync(join(this.path, '..data_tmp'), join(this.path, '..data'));
    if (this.version === 1) for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(this.path, name));
    if (previous) rmSync(previous, { recursive: true, force: true });
  }
}

const serialOf = (pemFile: string) => loadTls({ cert: f(`${pemFile}.crt`), key: f(`${pemFile}.key`) }).serialNumber;

/** the serial of the certificate a new TLS connection gets */
async function servedSerial(port: number, extra: { cert?: Buffer; key?: Buffer } = {}): Promise<string> {
  const socket = await openTls(port, extra);
  const serial = socket.getPeerCertificate().serialNumber;
  socket.destroy();
  return serial;
}

function openTls(port: number, extra: { cert?: Buffer; key?: Buffer } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(f('ca.crt')), ...extra }, () => resolve(s));
    s.once('error', reject);
  });
}

/** one HTTP/1.1 keep-alive request on an open TLS socket */
function httpOn(socket: TLSSocket, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, head))?.[1] ?? 0);
      if (buf.length >= head + 4 + len) {
        socket.off('data', onData);
        resolve(Number(buf.slice(9, 12)));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  });
}

async function until(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cephEnv = () => ({
  ...serviceEnv(),
});

beforeAll(() => {
  makeCa('ca');
  makeCert('server1', 'ca', '1001', 'serverAuth');
  makeCert('server2', 'ca', '2002', 'serverAuth');
  makeCert('server3', 'ca', '3003', 'serverAuth');
  makeCa('clientca');
  makeCert('console', 'clientca', 'c001', 'clientAuth');
  makeCa('rogue');
  makeCert('intruder', 'rogue', 'bad1', 'clientAuth');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the service over HTTPS (process, Secret-style certificate directory)', () => {
  let svc: Service | undefined;
  let secret: SecretDir;
  const ca = () => readFileSync(f('ca.crt'));

  beforeAll(async () => {
    secret = new SecretDir(f('secret'));
    secret.write({ 'tls.crt': readFileSync(f('server1.crt')), 'tls.key': readFileSync(f('server1.key')) });
    svc = await startService({ ...cephEnv(), TLS_CERT_FILE: secret.cert, TLS_KEY_FILE: secret.key, REQUIRE_TLS: 'true', TLS_RELOAD_INTERVAL_MS: '60000' }, { ca: ca() });
  }, 90_000);
  afterAll(async () => { await svc?.stop(); });

  it('HTTPS with the CA: 200 on the probes and the API; the certificate is server1', async () => {
    const dispatcher = new Agent({ connect: { ca: ca() } });
    for (const path of ['/healthz', '/readyz', '/api/v1/pools']) {
      const r = await request(`${svc!.url}${path}`, { dispatcher });
      expect(r.statusCode, path).toBe(200);
      await r.body.dump();
    }
    await dispatcher.close();
    expect(svc!.url).toMatch(/^https:/);
    expect(await servedSerial(svc!.port)).toBe(serialOf('server1'));
    expect(svc!.output()).toMatch(/HTTPS only: TLS certificate loaded/);
  });

  it('plain HTTP is refused, and a client without the CA refuses the certificate', async () => {
    const plain = await fetch(`http://127.0.0.1:${svc!.port}/healthz`).then((r) => r.status, (e: Error) => e.message);
    expect(plain).not.toBe(200);
    expect(typeof plain === 'string' || plain >= 400).toBe(true);
    const untrusted = await request(`${svc!.url}/healthz`).then((r) => r.statusCode, (e: Error) => (e.cause as Error | undefined)?.message ?? e.message);
    expect(String(untrusted)).toMatch(/certificate/i);
  });

  it('a rotated certificate (..data symlink swap) is served without a restart; an open keep-alive connection keeps working', async () => {
    const kept = await openTls(svc!.port);
    expect(await httpOn(kept, '/healthz')).toBe(200);
    expect(kept.getPeerCertificate().serialNumber).toBe(serialOf('server1'));
    const pid = svc!.child.pid;

    secret.write({ 'tls.crt': readFileSync(f('server2.crt')), 'tls.key': readFileSync(f('server2.key')) });
    const took = await until('new connections get server2', async () => (await servedSerial(svc!.port)) === serialOf('server2'), 5000);
    expect(took).toBeLessThan(5000); // fs.watch, not the 60 s poll

    // the connection opened before the rotation still answers, with its certificate
    expect(await httpOn(kept, '/readyz')).toBe(200);
    expect(await httpOn(kept, '/healthz')).toBe(200);
    expect(kept.getPeerCertificate().serialNumber).toBe(serialOf('server1'));
    kept.destroy();
    expect(svc!.child.pid).toBe(pid);
    expect(svc!.child.exitCode).toBeNull();
    expect(svc!.output()).toMatch(/TLS certificate reloaded/);
    const dispatcher = new Agent({ connect: { ca: ca() } });
    const r = await request(`${svc!.url}/api/v1/pools`, { dispatcher });
    expect(r.statusCode).toBe(200);
    await r.body.dump();
    await dispatcher.close();
  });

  it('a bad rotation (key of another certificate) is refused and logged; the previous certificate stays; a good one then goes in', async () => {
    secret.write({ 'tls.crt': readFileSync(f('server3.crt')), 'tls.key': readFileSync(f('server1.key')) });
    await until('the refusal is logged', async () => /not usable; still serving the previous certificate/.test(svc!.output()));
    expect(svc!.output()).toMatch(/does not belong to the certificate/);
    expect(await servedSerial(svc!.port)).toBe(serialOf('server2'));
    secret.write({ 'tls.crt': readFileSync(f('server3.crt')), 'tls.key': readFileSync(f('server3.key')) });
    await until('server3 served', async () => (await servedSerial(svc!.port)) === serialOf('server3'), 5000);
  });

  it('the expiry of the served certificate is a metric', async () => {
    const dispatcher = new Agent({ connect: { ca: ca() } });
    const r = await request(`${svc!.url}/metrics`, { dispatcher });
    const text = await r.body.text();
    await dispatcher.close();
    const notAfter = Number(/^rbdapi_tls_certificate_not_after_seconds (\d+)$/m.exec(text)?.[1]);
    expect(notAfter).toBe(Math.floor(loadTls({ cert: f('server3.crt'), key: f('server3.key') }).validTo.getTime() / 1000));
  });
});

describe('client certificates (TLS_CA_FILE)', () => {
  let svc: Service | undefined;
  beforeAll(async () => {
    svc = await startService({ ...cephEnv(), TLS_CERT_FILE: f('server1.crt'), TLS_KEY_FILE: f('server1.key'), TLS_CA_FILE: f('clientca.crt') }, { ca: readFileSync(f('ca.crt')) });
  }, 90_000);
  afterAll(async () => { await svc?.stop(); });

  const get = async (path: string, client?: 'console' | 'intruder') => {
    const dispatcher = new Agent({ connect: { ca: readFileSync(f('ca.crt')), ...(client ? { cert: readFileSync(f(`${client}.crt`)), key: readFileSync(f(`${client}.key`)) } : {}) } });
    try {
      const r = await request(`${svc!.url}${path}`, { dispatcher });
      const text = await r.body.text();
      return { status: r.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text };
    } finally {
      await dispatcher.close();
    }
  };

  it('probes answer without a client certificate (the kubelet has none); the API needs one the CA signed', async () => {
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    const none = await get('/api/v1/pools');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(none.body.detail).toMatch(/client certificate/);
    expect((await get('/api/v1/pools', 'console')).status).toBe(200);
    const rogue = await get('/api/v1/pools', 'intruder');
    expect(rogue.status).toBe(401);
  });
});

describe('refusing to start', () => {
  const start = (env: Record<string, string>) => startExpectingExit({ ...cephEnv(), ...env });
  beforeAll(() => {
    writeFileSync(f('garbage.crt'), 'this is not a certificate\n');
    writeFileSync(f('garbage.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  });

  it.each([
    ['a missing certificate file', () => ({ TLS_CERT_FILE: f('nope.crt'), TLS_KEY_FILE: f('server1.key') }), /TLS_CERT_FILE .*nope\.crt: cannot read it \(ENOENT\)/],
    ['a missing key file', () => ({ TLS_CERT_FILE: f('server1.crt'), TLS_KEY_FILE: f('nope.key') }), /TLS_KEY_FILE .*nope\.key: cannot read it \(ENOENT\)/],
    ['a file that is not PEM', () => ({ TLS_CERT_FILE: f('garbage.crt'), TLS_KEY_FILE: f('server1.key') }), /TLS_CERT_FILE .*garbage\.crt: no PEM certificate/],
    ['a broken key', () => ({ TLS_CERT_FILE: f('server1.crt'), TLS_KEY_FILE: f('garbage.key') }), /TLS_KEY_FILE .*garbage\.key: not a usable private key/],
    ['a key of another certificate', () => ({ TLS_CERT_FILE: f('server1.crt'), TLS_KEY_FILE: f('server2.key') }), /does not belong to the certificate/],
    ['a missing CA file', () => ({ TLS_CERT_FILE: f('server1.crt'), TLS_KEY_FILE: f('server1.key'), TLS_CA_FILE: f('nope-ca.crt') }), /TLS_CA_FILE .*nope-ca\.crt: cannot read it/],
    ['REQUIRE_TLS=true without files', () => ({ REQUIRE_TLS: 'true' }), /REQUIRE_TLS=true but TLS_CERT_FILE and TLS_KEY_FILE are not both set/],
    ['a certificate without a key', () => ({ TLS_CERT_FILE: f('server1.crt') }), /TLS_CERT_FILE is set but TLS_KEY_FILE is not/],
  ])('%s: exit 2 with a message naming the problem', async (_name, env, message) => {
    const r = await start(env());
    // a signal instead of exit 2 was seen once in a CI run (not reproduced in 30 local starts): say which, and what it printed
    expect(r.code, `signal ${r.signal}; output:\n${r.output.slice(-3000)}`).toBe(2);
    expect(r.output).toMatch(message);
    expect(r.output).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  }, 60_000);

  it('config: CA without a certificate, and REQUIRE_TLS with both files, are checked by loadConfig', () => {
    expect(() => loadConfig({ TLS_CA_FILE: '/x' })).toThrow(/TLS_CA_FILE \(client certificates\) needs TLS_CERT_FILE and TLS_KEY_FILE/);
    expect(loadConfig({ REQUIRE_TLS: 'true', TLS_CERT_FILE: '/a', TLS_KEY_FILE: '/b' })).toMatchObject({ REQUIRE_TLS: true, TLS_RELOAD_INTERVAL_MS: 10_000 });
  });
});

describe('reloading by polling alone (no file events)', () => {
  let server: HttpsServer;
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a changed file is picked up by the poll; a file rewritten in place too', async () => {
    const certFile = f('poll.crt');
    const keyFile = f('poll.key');
    writeFileSync(certFile, readFileSync(f('server1.crt')));
    writeFileSync(keyFile, readFileSync(f('server1.key')));
    const first = loadTls({ cert: certFile, key: keyFile });
    server = createHttpsServer(httpsOptions(first), (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const logs: string[] = [];
    const logger = { info: (_o: object, m: string) => logs.push(m), error: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`) };
    const reloader = new TlsReloader({ cert: certFile, key: keyFile }, server, first, logger, { intervalMs: 200, watch: false });
    reloader.start();
    try {
      expect(await servedSerial(port)).toBe(serialOf('server1'));
      writeFileSync(keyFile, readFileSync(f('server2.key'))); // half-way: the key first
      await until('the mismatch is logged', async () => logs.some((l) => /not usable/.test(l)), 3000);
      expect(await servedSerial(port)).toBe(serialOf('server1'));
      writeFileSync(certFile, readFileSync(f('server2.crt')));
      await until('server2 served', async () => (await servedSerial(port)) === serialOf('server2'), 3000);
      expect(reloader.current.serialNumber).toBe(serialOf('server2'));
      expect(logs.filter((l) => /not usable/.test(l))).toHaveLength(1); // logged once, not every poll
    } finally {
      reloader.stop();
    }
  });
});

describe('one SIGHUP reloads every reloadable part (src/startup.ts)', () => {
  const FIRST = 'sighup-first-token-0123456789';
  const SECOND = 'sighup-second-token-0123456789';
  let svc: Service | undefined;
  afterAll(async () => { await svc?.stop(); });

  it('the token file is re-read, the audit file reopened (log rotation) and the TLS files re-checked', async () => {
    const certFile = f('hup.crt');
    const keyFile = f('hup.key');
    const tokens = f('hup-tokens');
    const auditFile = f('hup-audit.log');
    writeFileSync(certFile, readFileSync(f('server1.crt')));
    writeFileSync(keyFile, readFileSync(f('server1.key')));
    writeFileSync(tokens, `${FIRST} write * first\n`);
    svc = await startService({ ...cephEnv(), TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_RELOAD_INTERVAL_MS: '60000',
      API_TOKENS_FILE: tokens, AUDIT_LOG_FILE: auditFile }, { ca: readFileSync(f('ca.crt')) });
    const dispatcher = new Agent({ connect: { ca: readFileSync(f('ca.crt')) } });
    const remove = async (token: string) => {
      const r = await request(`${svc!.url}/api/v1/pools/sighup-no-such-pool/images/x`, { method: 'DELETE', dispatcher, headers: { authorization: `Bearer ${token}` } });
      await r.body.dump();
      return r.statusCode;
    };
    try {
      expect(await remove(FIRST)).toBe(404);
      expect(await remove(SECOND)).toBe(401);
      // rotate everything at once: the token file, the audit file (moved away, as logrotate does), the certificate
      writeFileSync(tokens, `${FIRST} write * first\n${SECOND} write * second\n`);
      renameSync(auditFile, `${auditFile}.1`);
      writeFileSync(keyFile, readFileSync(f('server2.key')));
      writeFileSync(certFile, readFileSync(f('server2.crt')));
      svc.child.kill('SIGHUP');
      // tokens are polled every 10 s: a reload logged "why: SIGHUP" comes from the signal
      await until('tokens reloaded on SIGHUP', async () => /"why":"SIGHUP"[^\n]*API tokens reloaded/.test(svc!.output()), 5000);
      expect(await remove(SECOND)).toBe(404);
      await until('the rotated certificate served', async () => (await servedSerial(svc!.port)) === serialOf('server2'), 5000);
      // the audit trail goes on in a new file at AUDIT_LOG_FILE; the old one kept what came before
      // (request lines: the task runner may also audit transitions of other tests' tasks on the shared cluster)
      const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)
        .map((l) => JSON.parse(l) as { kind: string; principal: string | null; outcome: { status: number } }).filter((l) => l.kind === 'request');
      expect(lines(`${auditFile}.1`).map((l) => [l.principal, l.outcome.status])).toEqual([['first', 404], [null, 401]]);
      expect(lines(auditFile).map((l) => [l.principal, l.outcome.status])).toEqual([['second', 404]]);
      expect(svc.child.exitCode).toBeNull();
    } finally {
      await dispatcher.close();
    }
  }, 90_000);
});
