// Kubernetes manifests (k8s/), checked offline against the real API types (kubernetes-types 1.30) with the
// TypeScript compiler, rendered with a small kustomize subset (test/unit/k8s/kustomize.ts; compared with
// `kubectl kustomize` where kubectl is installed), plus the security and operational settings the
// deployment promises, and the image pull secret generator (scripts/pull-secret.ts).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SERVER, dockerConfigJson, dockerConfigJsonText, pullSecretManifest, secretYaml } from '../../scripts/pull-secret.js';
import { configSchema, loadConfig } from '../../src/config.js';
import { kustomize, parseYamlDocuments, readYamlFile, splitImage, strategicMerge, type Json, type JsonObject } from './k8s/kustomize.js';
import { checkTree, yamlFiles } from './k8s/tree.js';
import { formatProblems, validateManifests } from './k8s/validate.js';

const ROOT = resolve(import.meta.dirname, '../..');
const K8S = join(ROOT, 'k8s');
const NAMESPACE = 'rbd-rest-api';
const PRIVATE_IMAGE = 'registry.example.com/storage/rbd-rest-api:0.1.0';
const PULL_SECRET = 'registry-example-com';

type Any = any;

const kubectl = (() => {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
})();

const byKind = (docs: readonly JsonObject[], kind: string): Any[] => docs.filter((d) => d.kind === kind);
const one = (docs: readonly JsonObject[], kind: string): Any => {
  const found = byKind(docs, kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0];
};
const idOf = (d: Any): string => `${d.kind}/${d.metadata?.namespace ?? ''}/${d.metadata?.name}`;
const sortById = (docs: readonly Json[]): Any[] => [...docs].sort((a, b) => idOf(a).localeCompare(idOf(b)));

describe('k8s/ manifests against the Kubernetes API types', () => {
  const report = checkTree(K8S);

  it('every YAML document, and every kustomization rendered, type-checks with zero diagnostics', () => {
    expect(formatProblems(report.problems)).toBe('');
    expect(report.documents).toBeGreaterThan(20);
    expect([...report.rendered.keys()].sort()).toEqual(['base', 'overlays/example', 'overlays/monitoring']);
  });

  it('covers every file under k8s/', () => {
    const files = yamlFiles(K8S).map((f) => f.slice(K8S.length + 1));
    expect(files).toEqual(expect.arrayContaining([
      'base/kustomization.yaml', 'base/namespace.yaml', 'base/serviceaccount.yaml', 'base/configmap.yaml',
      'base/deployment.yaml', 'base/service.yaml', 'base/pdb.yaml', 'base/networkpolicy.yaml',
      'base/secret-ceph-keyring.example.yaml', 'base/secret-api-tokens.example.yaml',
      'overlays/example/kustomization.yaml', 'overlays/example/deployment-patch.yaml', 'overlays/example/certificate.yaml',
      'overlays/monitoring/kustomization.yaml', 'overlays/monitoring/podmonitor.yaml', 'overlays/monitoring/networkpolicy-metrics.yaml',
    ]));
  });
});

describe('planted typos fail validation (in a copy of k8s/)', () => {
  const copies: string[] = [];
  afterAll(() => { for (const c of copies) rmSync(c, { recursive: true, force: true }); });

  /** copy k8s/, replace the first `from` in `file` by `to`, check the whole copy */
  function plant(file: string, from: string, to: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-typo-'));
    copies.push(dir);
    cpSync(K8S, join(dir, 'k8s'), { recursive: true });
    const path = join(dir, 'k8s', file);
    const text = readFileSync(path, 'utf8');
    expect(text, `${file} still contains "${from}"`).toContain(from);
    writeFileSync(path, text.replace(from, to));
    return formatProblems(checkTree(join(dir, 'k8s')).problems);
  }

  it.each([
    ['imagePullSecret: in the Deployment spec', 'base/deployment.yaml', '      imagePullSecrets:', '      imagePullSecret:', /'"?imagePullSecret"?' does not exist in type 'PodSpec'/],
    ['replicas: "2"', 'base/deployment.yaml', 'replicas: 2', 'replicas: "2"', /Type 'string' is not assignable to type 'number'.*replicas/],
    ['readOnlyRootFileSystem (wrong case)', 'base/deployment.yaml', 'readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true', /readOnlyRootFileSystem/],
    ['runAsUser as a string', 'base/deployment.yaml', 'runAsUser: 10001', 'runAsUser: "10001"', /not assignable to type 'number'.*runAsUser/],
    ['a container without name', 'base/deployment.yaml', '        - name: api', '        - nam: api', /'"?nam"?' does not exist in type 'Container'/],
    ['livenessProbe.httpGet misspelt', 'base/deployment.yaml', '          livenessProbe:\n            httpGet:', '          livenessProbe:\n            httpget:', /httpget/],
    ['imagePullSecret: in the overlay patch', 'overlays/example/deployment-patch.yaml', 'imagePullSecrets:', 'imagePullSecret:', /imagePullSecret/],
    ['a Service port as a string', 'base/service.yaml', 'port: 8080', 'port: "8080"', /not assignable to type 'number'/],
    ['PodDisruptionBudget with an old apiVersion', 'base/pdb.yaml', 'apiVersion: policy/v1', 'apiVersion: policy/v1beta2', /policy\/v1beta2/],
    ['a kind that does not exist', 'base/service.yaml', 'kind: Service', 'kind: Servise', /Servise/],
    ['kustomization "resource:"', 'base/kustomization.yaml', 'resources:', 'resource:', /resource/],
    ['Certificate secretName misspelt', 'overlays/example/certificate.yaml', 'secretName: rbd-rest-api-tls', 'secretname: rbd-rest-api-tls', /secretname/],
    ['Certificate usage that does not exist', 'overlays/example/certificate.yaml', '- server auth', '- server-auth', /server-auth/],
    ['PodMonitor podMetricsEndpoints misspelt', 'overlays/monitoring/podmonitor.yaml', 'podMetricsEndpoints:', 'podMetricEndpoints:', /podMetricEndpoints/],
    ['PodMonitor scheme that does not exist', 'overlays/monitoring/podmonitor.yaml', 'scheme: https', 'scheme: tls', /"tls"|not assignable/],
    ['NetworkPolicy policyTypes as a string', 'base/networkpolicy.yaml', 'policyTypes:\n    - Ingress\n    - Egress', 'policyTypes: Ingress', /policyTypes|not assignable/],
  ])('%s', (_name, file, from, to, expected) => {
    const problems = plant(file, from, to);
    expect(problems).not.toBe('');
    expect(problems).toMatch(expected);
  });

  it('a patch that matches no resource fails the rendering', () => {
    expect(plant('overlays/example/deployment-patch.yaml', 'name: rbd-rest-api', 'name: rbd-rest-apl')).toMatch(/matches no resource/);
  });
});

describe('the rendered monitoring overlay', () => {
  const docs = kustomize(join(K8S, 'overlays/monitoring'));
  const deploy = one(docs, 'Deployment');
  const podLabels: Record<string, string> = deploy.spec.template.metadata.labels;
  const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  const port = deploy.spec.template.spec.containers.find((c: Any) => c.name === 'api').ports.find((p: Any) => p.name === 'https');

  it('a PodMonitor scrapes /metrics of the API Pods over HTTPS on their named port', () => {
    const pm = one(docs, 'PodMonitor');
    expect(pm.metadata.namespace).toBe(NAMESPACE);
    expect(selects(pm.spec.selector.matchLabels)).toBe(true);
    expect(pm.spec.podMetricsEndpoints).toEqual([expect.objectContaining({ port: 'https', path: '/metrics', scheme: 'https' })]);
    expect(port).toBeDefined();
  });

  it('a second NetworkPolicy admits the Prometheus Pods to that port; the base policy is unchanged', () => {
    const policies = byKind(docs, 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(['rbd-rest-api', 'rbd-rest-api-metrics']);
    const metrics = policies.find((p) => p.metadata.name === 'rbd-rest-api-metrics');
    expect(selects(metrics.spec.podSelector.matchLabels)).toBe(true);
    expect(metrics.spec.policyTypes).toEqual(['Ingress']);
    const [rule] = metrics.spec.ingress;
    expect(rule.ports).toEqual([{ port: 'https', protocol: 'TCP' }]);
    // one peer with both selectors: Prometheus Pods of the monitoring namespace, not every Pod there
    expect(rule.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }]);
    expect(policies.find((p) => p.metadata.name === 'rbd-rest-api')).toEqual(one(kustomize(join(K8S, 'base')), 'NetworkPolicy'));
  });

  it('the Grafana dashboard is a ConfigMap labelled grafana_dashboard, holding the JSON file as it is', () => {
    const cm = byKind(docs, 'ConfigMap').find((c) => c.metadata.name === 'rbd-rest-api-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const text = readFileSync(join(K8S, 'overlays/monitoring/grafana-dashboard.json'), 'utf8');
    expect(cm.data['grafana-dashboard.json']).toBe(text);
    const dash = JSON.parse(text);
    expect(dash.uid).toBe('rbd-rest-api');
    expect(dash.panels.filter((p: Any) => p.type !== 'row').every((p: Any) => p.targets.length > 0)).toBe(true);
  });
});

describe('the rendered example overlay', () => {
  const docs = kustomize(join(K8S, 'overlays/example'));
  const deploy = one(docs, 'Deployment');
  const pod = deploy.spec.template.spec;
  const container = pod.containers.find((c: Any) => c.name === 'api');
  const env: Record<string, string> = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value]));
  const mountAt = (p: string): Any => container.volumeMounts.find((m: Any) => m.mountPath === p);
  const volume = (name: string): Any => pod.volumes.find((v: Any) => v.name === name);

  it('has the expected resources, all in the namespace', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(
      ['Certificate', 'ConfigMap', 'ConfigMap', 'Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    for (const d of docs as Any[]) {
      if (d.kind === 'Namespace') expect(d.metadata.name).toBe(NAMESPACE);
      else expect(d.metadata.namespace, idOf(d)).toBe(NAMESPACE);
    }
    expect(one(docs, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('pulls the private registry image with the pull secret (Deployment and ServiceAccount)', () => {
    expect(container.image).toBe(PRIVATE_IMAGE);
    expect(pod.imagePullSecrets).toEqual([{ name: PULL_SECRET }]);
    const sa = one(docs, 'ServiceAccount');
    expect(sa.imagePullSecrets).toEqual([{ name: PULL_SECRET }]);
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('runs 2 replicas with a rolling update that keeps capacity', () => {
    expect(deploy.spec.replicas).toBe(2);
    expect(deploy.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const pdb = one(docs, 'PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deploy.spec.replicas);
  });

  it('is hardened: non-root 10001, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    const sc = container.securityContext;
    expect(sc).toMatchObject({
      runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sc.privileged ?? false).toBe(false);
    expect(sc.capabilities.add ?? []).toEqual([]);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    // writable /tmp only
    expect(volume(mountAt('/tmp').name).emptyDir).toBeDefined();
    expect(env.TMPDIR ?? '/tmp').toBe('/tmp');
    for (const m of container.volumeMounts) if (m.mountPath !== '/tmp') expect(m.readOnly, m.mountPath).toBe(true);
  });

  it('mounts ceph.conf and the keyring read-only under /etc/ceph, and the token file from a Secret', () => {
    const ceph = mountAt('/etc/ceph');
    expect(ceph.readOnly).toBe(true);
    expect(ceph.subPath).toBeUndefined(); // subPath mounts never see Secret/ConfigMap updates
    const sources = volume(ceph.name).projected.sources;
    const conf = sources.find((s: Any) => s.configMap)?.configMap;
    const key = sources.find((s: Any) => s.secret)?.secret;
    expect(conf.items).toEqual([{ key: 'ceph.conf', path: 'ceph.conf' }]);
    expect(key.items).toEqual([{ key: 'keyring', path: 'keyring' }]);
    expect(volume(ceph.name).projected.defaultMode).toBe(0o440);
    expect(env.CEPH_CONF).toBe('/etc/ceph/ceph.conf');
    expect(env.CEPH_KEYRING).toBe('/etc/ceph/keyring');
    expect(env.CEPH_CLIENT_ID).toMatch(/^[A-Za-z0-9_.-]+$/);
    // the ConfigMap and Secret the volume names are the ones the base provides / documents
    const cm = byKind(docs, 'ConfigMap').find((c: Any) => c.metadata.name === conf.name);
    expect(cm.data['ceph.conf']).toMatch(/^\s*fsid\s*=/m);
    expect(cm.data['ceph.conf']).toMatch(/^\s*mon_host\s*=/m);
    const example = readYamlFile(join(K8S, 'base/secret-ceph-keyring.example.yaml'))[0] as Any;
    expect(example.metadata.name).toBe(key.name);
    expect(Object.keys(example.stringData)).toEqual(['keyring']);

    const tokens = mountAt('/etc/rbd-rest-api');
    expect(tokens.readOnly).toBe(true);
    const tv = volume(tokens.name).secret;
    expect(env.API_TOKENS_FILE).toBe(`/etc/rbd-rest-api/${tv.items[0].path}`);
    const tokenExample = readYamlFile(join(K8S, 'base/secret-api-tokens.example.yaml'))[0] as Any;
    expect(tokenExample.metadata.name).toBe(tv.secretName);
    expect(Object.keys(tokenExample.stringData)).toEqual([tv.items[0].key]);
  });

  it('listens on 0.0.0.0:8080, probes /healthz and /readyz on that port over HTTPS, and both routes exist', () => {
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.PORT).toBe('8080');
    expect(container.ports).toEqual([{ name: 'https', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
    expect(deploy.spec.template.metadata.annotations['prometheus.io/scheme']).toBe('https');
    const openapi = JSON.parse(readFileSync(join(ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String) });
  });

  it('is HTTPS only: REQUIRE_TLS, certificate and key from the Secret cert-manager fills (whole-directory mount, renewals seen)', () => {
    const cmEnv = byKind(docs, 'ConfigMap').find((c: Any) => c.metadata.name === container.envFrom[0].configMapRef.name).data as Record<string, string>;
    const config = loadConfig({ ...cmEnv, ...env });
    expect(config.REQUIRE_TLS).toBe(true);
    const mount = mountAt('/etc/rbd-rest-api-tls');
    expect(mount.readOnly).toBe(true);
    expect(mount.subPath).toBeUndefined(); // a subPath mount never sees a renewed certificate
    const secret = volume(mount.name).secret;
    expect(secret.defaultMode).toBe(0o440);
    expect(secret.items).toEqual([{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }]);
    expect(config.TLS_CERT_FILE).toBe('/etc/rbd-rest-api-tls/tls.crt');
    expect(config.TLS_KEY_FILE).toBe('/etc/rbd-rest-api-tls/tls.key');
    // cert-manager writes that Secret, for the names the Service answers to
    const cert = one(docs, 'Certificate');
    expect(cert.spec.secretName).toBe(secret.secretName);
    const svc = one(docs, 'Service');
    expect(cert.spec.dnsNames).toEqual(expect.arrayContaining([
      svc.metadata.name, `${svc.metadata.name}.${NAMESPACE}`, `${svc.metadata.name}.${NAMESPACE}.svc`, `${svc.metadata.name}.${NAMESPACE}.svc.cluster.local`]));
    expect(cert.spec.usages).toContain('server auth');
    expect(cert.spec.privateKey.rotationPolicy).toBe('Always');
    expect(cert.spec.issuerRef.name).toBeTruthy();
    // the base alone (no overlay) still needs the Secret: it makes no Certificate and no plain-HTTP port
    const base = kustomize(join(K8S, 'base'));
    expect(byKind(base, 'Certificate')).toEqual([]);
    expect(one(base, 'Deployment').spec.template.spec.containers[0].readinessProbe.httpGet.scheme).toBe('HTTPS');
  });

  it('shuts down inside the grace period: preStop + SHUTDOWN_TIMEOUT_MS < terminationGracePeriodSeconds', () => {
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const total = Number(preStop[1]) * 1000 + Number(env.SHUTDOWN_TIMEOUT_MS);
    expect(total).toBeLessThan(pod.terminationGracePeriodSeconds * 1000);
  });

  it('sets only variables the service knows, with values its config accepts', () => {
    const cmEnv = byKind(docs, 'ConfigMap').find((c: Any) => c.metadata.name === container.envFrom[0].configMapRef.name).data as Record<string, string>;
    const known = new Set([...Object.keys(configSchema.shape), 'UV_THREADPOOL_SIZE', 'TMPDIR', 'NODE_ENV']);
    for (const name of [...Object.keys(env), ...Object.keys(cmEnv)]) expect(known.has(name), `${name} is read by the service`).toBe(true);
    const config = loadConfig({ ...cmEnv, ...env });
    expect(config).toMatchObject({ HOST: '0.0.0.0', PORT: 8080, REQUIRE_AUTH: true, CEPH_CLIENT_ID: 'rbdapi' });
    expect(Number(cmEnv.UV_THREADPOOL_SIZE)).toBeGreaterThan(config.CEPH_CONCURRENCY);
  });

  it('Service, PodDisruptionBudget and NetworkPolicy select the Pods and use the named port', () => {
    const labels = deploy.spec.template.metadata.labels as Record<string, string>;
    const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(selects(deploy.spec.selector.matchLabels)).toBe(true);
    const svc = one(docs, 'Service');
    expect(svc.spec.type).toBe('ClusterIP');
    expect(selects(svc.spec.selector)).toBe(true);
    expect(svc.spec.ports[0].targetPort).toBe('https');
    expect(selects(one(docs, 'PodDisruptionBudget').spec.selector.matchLabels)).toBe(true);
    const np = one(docs, 'NetworkPolicy');
    expect(selects(np.spec.podSelector.matchLabels)).toBe(true);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress[0].ports).toEqual([{ port: 'https', protocol: 'TCP' }]);
    const egressPorts = np.spec.egress.flatMap((r: Any) => r.ports.map((p: Any) => p.port));
    expect(egressPorts).toEqual(expect.arrayContaining([53, 3300, 6789, 6800]));
  });
});

describe('no credentials in k8s/', () => {
  it('the base names its image with a tag (never latest) and holds no Secret resources', () => {
    const base = kustomize(join(K8S, 'base'));
    const image = one(base, 'Deployment').spec.template.spec.containers[0].image as string;
    const { tag } = splitImage(image);
    expect(tag).toBeDefined();
    expect(tag).not.toBe('latest');
    expect(byKind(base, 'Secret')).toEqual([]);
    expect(byKind(kustomize(join(K8S, 'overlays/example')), 'Secret')).toEqual([]);
  });

  it('the example Secrets hold placeholders only', () => {
    for (const f of yamlFiles(K8S)) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/AQ[A-Za-z0-9+/]{38}==/); // a cephx key
      expect(text, f).not.toMatch(/\.dockerconfigjson:\s*[A-Za-z0-9+/=]{16,}/);
    }
    const keyring = (readYamlFile(join(K8S, 'base/secret-ceph-keyring.example.yaml'))[0] as Any).stringData.keyring as string;
    expect(keyring).toMatch(/key = REPLACE-/);
    const tokens = (readYamlFile(join(K8S, 'base/secret-api-tokens.example.yaml'))[0] as Any).stringData.tokens as string;
    // only comments: the service refuses to start with it ("no tokens") rather than running without auth
    expect(tokens.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))).toEqual([]);
  });
});

describe('kustomize subset renderer', () => {
  const deployment = (spec: Json): JsonObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec } } });

  it('strategic merge: keyed lists merge (patch items first), other lists are replaced, null deletes', () => {
    const base = deployment({
      containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], args: ['1', '2'] }],
      imagePullSecrets: [{ name: 'one' }], tolerations: [{ key: 'k' }],
    });
    const out = strategicMerge('Deployment', base, deployment({
      containers: [{ name: 'b', image: 'y' }, { name: 'a', env: [{ name: 'C', value: '3' }, { name: 'A', $patch: 'delete' }], args: ['3'], image: null }],
      imagePullSecrets: [{ name: 'two' }], tolerations: [{ key: 'z' }],
    })) as Any;
    const spec = out.spec.template.spec;
    expect(spec.containers).toEqual([
      { name: 'b', image: 'y' },
      { name: 'a', env: [{ name: 'C', value: '3' }, { name: 'B', value: '2' }], args: ['3'] },
    ]);
    expect(spec.imagePullSecrets).toEqual([{ name: 'two' }, { name: 'one' }]);
    expect(spec.tolerations).toEqual([{ key: 'z' }]);
  });

  it('strategic merge: a {$patch: replace} item replaces the whole list', () => {
    const out = strategicMerge('Deployment', deployment({ imagePullSecrets: [{ name: 'one' }] }),
      deployment({ imagePullSecrets: [{ $patch: 'replace' }, { name: 'two' }] })) as Any;
    expect(out.spec.template.spec.imagePullSecrets).toEqual([{ name: 'two' }]);
  });

  it('image references: tags, digests, and a registry port that is not a tag', () => {
    expect(splitImage('rbd-rest-api:0.1.0')).toEqual({ name: 'rbd-rest-api', tag: '0.1.0', digest: undefined });
    expect(splitImage('127.0.0.1:5055/rbd-rest-api')).toEqual({ name: '127.0.0.1:5055/rbd-rest-api', digest: undefined });
    expect(splitImage('r.example/a/b:1@sha256:abc')).toEqual({ name: 'r.example/a/b', tag: '1', digest: 'sha256:abc' });
  });

  it('parses multi-document YAML and skips empty documents', () => {
    expect(parseYamlDocuments('a: 1\n---\n---\nb: 2\n', 't')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it.skipIf(!kubectl)('renders base and overlay exactly like `kubectl kustomize`', () => {
    for (const dir of ['base', 'overlays/example', 'overlays/monitoring']) {
      const r = spawnSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const theirs = parseYamlDocuments(r.stdout, `kubectl kustomize ${dir}`);
      expect(sortById(kustomize(join(K8S, dir)))).toEqual(sortById(theirs));
    }
  });
});

describe('image pull secret generator (scripts/pull-secret.ts)', () => {
  const server = '127.0.0.1:5055';
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

  it('builds auths → registry → username/password/auth with auth = base64(user:password)', () => {
    const doc = dockerConfigJson({ server, username: 'robot', password: 'p@ss:word' });
    expect(doc).toEqual({ auths: { [server]: { username: 'robot', password: 'p@ss:word', auth: b64('robot:p@ss:word') } } });
    expect(Object.keys(doc)).toEqual(['auths']);
    expect(Object.keys(doc.auths)).toEqual([server]);
    expect(Object.keys(doc.auths[server]!)).toEqual(['username', 'password', 'auth']);
    expect(Buffer.from(doc.auths[server]!.auth!, 'base64').toString('utf8')).toBe('robot:p@ss:word');
    // compact, no trailing newline: the bytes kubectl stores
    expect(dockerConfigJsonText({ server, username: 'robot', password: 'pw' }))
      .toBe(`{"auths":{"${server}":{"username":"robot","password":"pw","auth":"${b64('robot:pw')}"}}}`);
  });

  it('adds email only when given, defaults to Docker Hub like kubectl, refuses ":" in the username', () => {
    expect(Object.keys(dockerConfigJson({ server, username: 'u', password: 'p', email: 'u@example.com' }).auths[server]!))
      .toEqual(['username', 'password', 'email', 'auth']);
    expect(Object.keys(dockerConfigJson({ username: 'u', password: 'p' }).auths)).toEqual([DEFAULT_SERVER]);
    expect(() => dockerConfigJson({ server, username: 'a:b', password: 'p' })).toThrow(/must not contain/);
    expect(() => dockerConfigJson({ server, username: 'u', password: '' })).toThrow(/password/);
  });

  it('makes a valid kubernetes.io/dockerconfigjson Secret (YAML and object agree)', () => {
    const secret = pullSecretManifest(PULL_SECRET, NAMESPACE, { server: 'registry.example.com', username: 'robot', password: 'pw' });
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(Object.keys(secret.data)).toEqual(['.dockerconfigjson']);
    expect(JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString('utf8')))
      .toEqual(dockerConfigJson({ server: 'registry.example.com', username: 'robot', password: 'pw' }));
    expect(parseYamlDocuments(secretYaml(secret), 'secret')).toEqual([secret]);
    expect(formatProblems(validateManifests([{ source: 'pull secret', object: secret as unknown as Json }]))).toBe('');
    expect(() => pullSecretManifest('Bad_Name', NAMESPACE, { username: 'u', password: 'p' })).toThrow(/not a valid Secret name/);
  });

  it('command line: password from stdin, JSON on stdout', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/pull-secret.ts', '--server', server, '--username', 'robot', '--password-stdin'],
      { cwd: ROOT, input: 'pw-from-stdin\n', encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${dockerConfigJsonText({ server, username: 'robot', password: 'pw-from-stdin' })}\n`);
  });

  it.skipIf(!kubectl)('is byte for byte what `kubectl create secret docker-registry` stores', () => {
    const r = spawnSync('kubectl', ['create', 'secret', 'docker-registry', PULL_SECRET, '-n', NAMESPACE, `--docker-server=${server}`,
      '--docker-username=robot', '--docker-password=p@ss:word', '--dry-run=client', '-o', 'json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout) as { data: Record<string, string>; type: string };
    const ours = pullSecretManifest(PULL_SECRET, NAMESPACE, { server, username: 'robot', password: 'p@ss:word' });
    expect(theirs.type).toBe(ours.type);
    expect(theirs.data).toEqual(ours.data);
  });
});

