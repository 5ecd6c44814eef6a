// Offline schema check of Kubernetes manifests against the real API types (the kubernetes-types package,
// generated from Kubernetes' OpenAPI document): each document becomes an object literal assigned to its
// type in a generated TypeScript file, and the TypeScript compiler checks it. Object literals get excess
// property checks, so a misspelt field (imagePullSecret), a wrong type (replicas: "2"), a missing required
// field (a container without name) or an unknown kind/apiVersion is a diagnostic.
import { resolve } from 'node:path';
import ts from 'typescript';
import { isObject, type Json } from './kustomize.js';

export interface Manifest {
  /** where it came from, for messages: "k8s/base/deployment.yaml#0" */
  source: string;
  object: Json;
  /** a strategic merge patch: its $patch directives are dropped before the check */
  patch?: boolean;
}

export interface Problem { source: string; message: string }

/** apiVersion → module of kubernetes-types */
const MODULES: Record<string, string> = {
  v1: 'core/v1',
  'apps/v1': 'apps/v1',
  'batch/v1': 'batch/v1',
  'policy/v1': 'policy/v1',
  'networking.k8s.io/v1': 'networking/v1',
  'rbac.authorization.k8s.io/v1': 'rbac/v1',
  'autoscaling/v2': 'autoscaling/v2',
  'scheduling.k8s.io/v1': 'scheduling/v1',
  'storage.k8s.io/v1': 'storage/v1',
};

/** kustomization.yaml, limited to what test/unit/k8s/kustomize.ts renders (see KUSTOMIZATION_FIELDS). */
const PREAMBLE = `
// a strategic merge patch: every field optional, unknown fields still refused (mapped types keep
// excess property checks)
type Patch<T> = T extends readonly (infer U)[] ? Patch<U>[] : T extends object ? { [K in keyof T]?: Patch<T[K]> } : T;
interface KustomizeImage { name: string; newName?: string; newTag?: string; digest?: string }
interface KustomizeTarget { group?: string; version?: string; kind?: string; name?: string; namespace?: string }
interface KustomizePatch { path?: string; patch?: string; target?: KustomizeTarget }
// cert-manager.io/v1 Certificate (the CRD's schema, cert-manager 1.15; only what a Certificate may hold)
type CertManagerUsage = 'signing' | 'digital signature' | 'content commitment' | 'key encipherment' | 'key agreement'
  | 'data encipherment' | 'cert sign' | 'crl sign' | 'encipher only' | 'decipher only' | 'any' | 'server auth'
  | 'client auth' | 'code signing' | 'email protection' | 's/mime' | 'ipsec end system' | 'ipsec tunnel' | 'ipsec user'
  | 'timestamping' | 'ocsp signing' | 'microsoft sgc' | 'netscape sgc';
interface CertManagerCertificateSpec {
  secretName: string;
  issuerRef: { name: string; kind?: string; group?: string };
  commonName?: string; dnsNames?: string[]; ipAddresses?: string[]; uris?: string[]; emailAddresses?: string[];
  duration?: string; renewBefore?: string; renewBeforePercentage?: number; isCA?: boolean; usages?: CertManagerUsage[];
  privateKey?: { algorithm?: 'RSA' | 'ECDSA' | 'Ed25519'; size?: number; encoding?: 'PKCS1' | 'PKCS8'; rotationPolicy?: 'Never' | 'Always' };
  secretTemplate?: { annotations?: { [k: string]: string }; labels?: { [k: string]: string } };
  subject?: { organizations?: string[]; countries?: string[]; organizationalUnits?: string[]; localities?: string[];
    provinces?: string[]; streetAddresses?: string[]; postalCodes?: string[]; serialNumber?: string };
  literalSubject?: string; revisionHistoryLimit?: number; encodeUsagesInRequest?: boolean;
}
interface CertManagerCertificate {
  apiVersion: 'cert-manager.io/v1'; kind: 'Certificate';
  metadata: import('kubernetes-types/meta/v1').ObjectMeta;
  spec: CertManagerCertificateSpec;
}
// monitoring.coreos.com/v1 PodMonitor (the Prometheus Operator CRD, v0.75; only the fields k8s/ may use)
interface PromSecretKey { name: string; key: string; optional?: boolean }
interface PodMonitorEndpoint {
  port?: string; targetPort?: string | number; path?: string; scheme?: 'http' | 'https'; interval?: string; scrapeTimeout?: string;
  honorLabels?: boolean; params?: { [k: string]: string[] };
  tlsConfig?: { serverName?: string; insecureSkipVerify?: boolean; ca?: { secret?: PromSecretKey; configMap?: PromSecretKey };
    cert?: { secret?: PromSecretKey; configMap?: PromSecretKey }; keySecret?: PromSecretKey };
  bearerTokenSecret?: PromSecretKey;
}
interface PodMonitor {
  apiVersion: 'monitoring.coreos.com/v1'; kind: 'PodMonitor';
  metadata: import('kubernetes-types/meta/v1').ObjectMeta;
  spec: {
    selector: import('kubernetes-types/meta/v1').LabelSelector;
    podMetricsEndpoints: PodMonitorEndpoint[];
    namespaceSelector?: { any?: boolean; matchNames?: string[] };
    jobLabel?: string; podTargetLabels?: string[];
  };
}
interface ConfigMapGenerator {
  name: string;
  files?: string[];
  options?: { disableNameSuffixHash?: boolean; labels?: { [k: string]: string } };
}
interface Kustomization {
  apiVersion?: 'kustomize.config.k8s.io/v1beta1';
  kind?: 'Kustomization';
  namespace?: string;
  resources?: string[];
  images?: KustomizeImage[];
  patches?: KustomizePatch[];
  configMapGenerator?: ConfigMapGenerator[];
}
`;

const ROOT = resolve(import.meta.dirname, '../../..');
const VIRTUAL = resolve(ROOT, 'test/unit/k8s/__manifests__.generated.ts');
const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts'],
  types: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  isolatedModules: false,
};

// library files (lib.*.d.ts, kubernetes-types) are parsed once per test process
const sourceCache = new Map<string, ts.SourceFile>();
let previous: ts.Program | undefined;

function compile(text: string): readonly ts.Diagnostic[] {
  const host = ts.createCompilerHost(OPTIONS, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError) => {
    if (resolve(fileName) === VIRTUAL) return ts.createSourceFile(fileName, text, languageVersion, true);
    let sf = sourceCache.get(fileName);
    if (!sf) {
      sf = getSourceFile(fileName, languageVersion, onError);
      if (sf) sourceCache.set(fileName, sf);
    }
    return sf;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => resolve(f) === VIRTUAL || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (resolve(f) === VIRTUAL ? text : readFile(f));
  const program = ts.createProgram({ rootNames: [VIRTUAL], options: OPTIONS, host, oldProgram: previous });
  previous = program;
  const sf = program.getSourceFile(VIRTUAL)!;
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf), ...program.getGlobalDiagnostics()];
}

function withoutDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.filter((e) => !(isObject(e) && '$patch' in e && Object.keys(e).length === 1)).map(withoutDirectives);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== '$patch').map(([k, x]) => [k, withoutDirectives(x)]));
}

/** The TypeScript type a manifest must satisfy, or a reason why there is none. */
export function typeOf(obj: Json, patch = false): { type: string } | { error: string } {
  if (!isObject(obj)) return { error: 'not a mapping' };
  const { apiVersion, kind } = obj;
  if (apiVersion === 'kustomize.config.k8s.io/v1beta1' || (apiVersion === undefined && kind === undefined && 'resources' in obj)) {
    return { type: 'Kustomization' };
  }
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return { error: 'apiVersion and kind are required' };
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) return { error: `"${kind}" is not a kind` };
  if (apiVersion === 'monitoring.coreos.com/v1' && kind === 'PodMonitor') return { type: patch ? 'Patch<PodMonitor>' : 'PodMonitor' };
  if (apiVersion === 'cert-manager.io/v1' && kind === 'Certificate') return { type: patch ? 'Patch<CertManagerCertificate>' : 'CertManagerCertificate' };
  const mod = MODULES[apiVersion];
  if (!mod) return { error: `no Kubernetes types for apiVersion "${apiVersion}"` };
  const type = `import('kubernetes-types/${mod}').${kind}`;
  // the literal apiVersion/kind are required here (kubernetes-types has them optional)
  return { type: `${patch ? `Patch<${type}>` : type} & { apiVersion: ${JSON.stringify(apiVersion)}; kind: ${JSON.stringify(kind)} }` };
}

/** Type-check manifests; returns one entry per problem (none = valid). */
export function validateManifests(manifests: readonly Manifest[]): Problem[] {
  const problems: Problem[] = [];
  const lines: string[] = ['// generated by test/unit/k8s/validate.ts', PREAMBLE];
  const ranges: { start: number; end: number; source: string }[] = [];
  manifests.forEach((m, i) => {
    const t = typeOf(m.object, m.patch);
    if ('error' in t) {
      problems.push({ source: m.source, message: t.error });
      return;
    }
    const body = JSON.stringify(m.patch ? withoutDirectives(m.object) : m.object, null, 2);
    const start = lines.join('\n').split('\n').length;
    lines.push(`// ${m.source}`, `export const m${i}: ${t.type} = ${body};`);
    ranges.push({ start, end: lines.join('\n').split('\n').length, source: m.source });
  });
  const text = lines.join('\n');
  const file = ts.createSourceFile(VIRTUAL, text, ts.ScriptTarget.ES2022, true);
  for (const d of compile(text)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file && d.start !== undefined && resolve(d.file.fileName) === VIRTUAL) {
      const { line } = file.getLineAndCharacterOfPosition(d.start);
      const r = ranges.find((x) => line >= x.start && line < x.end);
      const near = text.split('\n')[line]?.trim();
      problems.push({ source: r?.source ?? 'generated preamble', message: `${message}${near ? ` (at: ${near})` : ''}` });
    } else {
      problems.push({ source: d.file?.fileName ?? 'compiler', message });
    }
  }
  return problems;
}

export const formatProblems = (ps: readonly Problem[]): string => ps.map((p) => `${p.source}: ${p.message}`).join('\n');
