// A small kustomize renderer for the subset k8s/ uses, so the manifests can be checked offline without
// kubectl: `resources` (files and directories), `patches` (strategic merge, by path or inline, with an
// optional target), `namespace`, `images` and `configMapGenerator` (files, with the name hash suffix
// disabled: a generated ConfigMap keeps its name). Anything else in a kustomization.yaml is an error rather
// than silently ignored. Transformations run in kustomize's order: patches, namespace, images.
// test/unit/k8s-manifests.test.ts compares the result with `kubectl kustomize` where kubectl exists.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The kustomization fields this renderer understands (the validator types them the same way). */
export const KUSTOMIZATION_FIELDS = ['apiVersion', 'kind', 'namespace', 'resources', 'images', 'patches', 'configMapGenerator'] as const;

/** Parse every non-empty YAML document of a file (or a string) into plain JSON values. */
export function parseYamlDocuments(text: string, source: string): Json[] {
  const out: Json[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as Json | undefined;
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

export const readYamlFile = (path: string): Json[] => parseYamlDocuments(readFileSync(path, 'utf8'), path);

// ---- strategic merge patch ---------------------------------------------------------------------------

/** Where a kind keeps its PodSpec. */
const POD_SPEC_AT: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};
/** patchMergeKey of the lists Kubernetes declares with patchStrategy "merge" (k8s.io/api core/v1). */
const POD_SPEC_KEYS: Record<string, string> = {
  containers: 'name', initContainers: 'name', ephemeralContainers: 'name', volumes: 'name',
  imagePullSecrets: 'name', hostAliases: 'ip', topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name', schedulingGates: 'name',
};
const CONTAINER_KEYS: Record<string, string> = {
  env: 'name', ports: 'containerPort', volumeMounts: 'mountPath', volumeDevices: 'devicePath', resizePolicy: 'resourceName',
};
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

/** The merge key of the list at `path` (field names, no indices) in an object of `kind`, if it merges. */
export function mergeKeyFor(kind: string, path: readonly string[]): string | undefined {
  if (path.length === 2 && path[0] === 'metadata' && path[1] === 'ownerReferences') return 'uid';
  if (kind === 'Service' && path.join('.') === 'spec.ports') return 'port';
  const at = POD_SPEC_AT[kind];
  if (!at || path.length <= at.length || !at.every((p, i) => path[i] === p)) return undefined;
  const rest = path.slice(at.length);
  if (rest.length === 1) return POD_SPEC_KEYS[rest[0]!];
  if (rest.length === 2 && CONTAINER_LISTS.has(rest[0]!)) return CONTAINER_KEYS[rest[1]!];
  return undefined;
}

const DIRECTIVE = '$patch';

/** A copy without strategic-merge directives. */
function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.filter((e) => !(isObject(e) && DIRECTIVE in e)).map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

function mergeList(kind: string, path: string[], base: Json | undefined, patch: Json[]): Json[] {
  const others = patch.filter((e) => !(isObject(e) && DIRECTIVE in e && Object.keys(e).length === 1));
  for (const e of patch) {
    if (isObject(e) && DIRECTIVE in e && Object.keys(e).length === 1 && e[DIRECTIVE] !== 'replace') {
      throw new Error(`${path.join('.')}: unsupported list directive $patch: ${String(e[DIRECTIVE])}`);
    }
  }
  if (others.length !== patch.length) return others.map(stripDirectives); // {$patch: replace}
  const key = mergeKeyFor(kind, path);
  if (!key || !Array.isArray(base)) return patch.map(stripDirectives); // lists without a merge key are replaced
  // kustomize (apimachinery) order: the patch's items first, then the base's remaining ones
  const rest = base.slice();
  const out: Json[] = [];
  for (const item of patch) {
    if (!isObject(item) || !(key in item)) throw new Error(`${path.join('.')}: patch items need the merge key "${key}"`);
    const i = rest.findIndex((b) => isObject(b) && b[key] === item[key]);
    const found = i >= 0 ? rest.splice(i, 1)[0] : undefined;
    if (item[DIRECTIVE] === 'delete') continue;
    out.push(found === undefined ? stripDirectives(item) : strategicMerge(kind, found, item, path));
  }
  return [...out, ...rest];
}

/**
 * Strategic merge of `patch` into `base` for an object of `kind`: maps merge recursively, null deletes,
 * lists with a Kubernetes merge key merge by that key, other lists are replaced; `$patch: replace` (on a
 * map or as a list item) and `$patch: delete` (on a keyed list item) are honoured.
 */
export function strategicMerge(kind: string, base: Json | undefined, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return Array.isArray(patch) ? mergeList(kind, path, base, patch) : patch;
  if (patch[DIRECTIVE] === 'replace') return stripDirectives(patch);
  if (DIRECTIVE in patch && path.length > 0) throw new Error(`${path.join('.')}: unsupported $patch: ${String(patch[DIRECTIVE])}`);
  const out: JsonObject = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) {
      if (k === DIRECTIVE && path.length === 0) continue;
      throw new Error(`${[...path, k].join('.')}: unsupported directive`);
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(kind, [...path, k], out[k], v);
    else if (isObject(v)) out[k] = strategicMerge(kind, out[k], v, [...path, k]);
    else out[k] = v;
  }
  return out;
}

// ---- transformers --------------------------------------------------------------------------------------

/** Kinds without a namespace (the ones a deployment like this could contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume',
  'StorageClass', 'PriorityClass', 'IngressClass', 'RuntimeClass', 'CSIDriver', 'APIService',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding', 'Node',
]);

function setNamespace(obj: JsonObject, namespace: string): void {
  const meta = isObject(obj.metadata) ? obj.metadata : (obj.metadata = {});
  // like kustomize: a Namespace object takes the name; namespaced objects get metadata.namespace
  if (obj.kind === 'Namespace') meta.name = namespace;
  else if (!CLUSTER_SCOPED.has(String(obj.kind))) meta.namespace = namespace;
}

export interface ImageRule { name: string; newName?: string; newTag?: string; digest?: string }

/** Split "registry:5000/repo/name:tag@sha256:…" into name, tag and digest (the registry port is not a tag). */
export function splitImage(ref: string): { name: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}

function rewriteImage(ref: string, rules: readonly ImageRule[]): string {
  const { name, tag, digest } = splitImage(ref);
  const rule = rules.find((r) => r.name === name);
  if (!rule) return ref;
  const newName = rule.newName ?? name;
  if (rule.digest) return `${newName}@${rule.digest}`;
  if (rule.newTag) return `${newName}:${rule.newTag}`;
  return `${newName}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

function setImages(v: Json, rules: readonly ImageRule[]): void {
  if (Array.isArray(v)) { v.forEach((x) => setImages(x, rules)); return; }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if ((k === 'containers' || k === 'initContainers') && Array.isArray(x)) {
      for (const c of x) if (isObject(c) && typeof c.image === 'string') c.image = rewriteImage(c.image, rules);
    } else {
      setImages(x, rules);
    }
  }
}

// ---- the kustomization ---------------------------------------------------------------------------------

export interface KustomizePatch {
  path?: string;
  patch?: string;
  target?: { group?: string; version?: string; kind?: string; name?: string; namespace?: string };
}

export function findKustomization(dir: string): string {
  for (const n of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    try {
      if (statSync(join(dir, n)).isFile()) return join(dir, n);
    } catch { /* next */ }
  }
  throw new Error(`${dir}: no kustomization.yaml`);
}

const idOf = (o: JsonObject): string => {
  const m = isObject(o.metadata) ? o.metadata : {};
  return `${String(o.kind)}/${m.namespace ? `${String(m.namespace)}/` : ''}${String(m.name)}`;
};

function matches(res: JsonObject, sel: NonNullable<KustomizePatch['target']>): boolean {
  const meta = isObject(res.metadata) ? res.metadata : {};
  const [group, version] = String(res.apiVersion).includes('/') ? String(res.apiVersion).split('/') : ['', String(res.apiVersion)];
  return (sel.kind === undefined || sel.kind === res.kind)
    && (sel.name === undefined || sel.name === meta.name)
    && (sel.namespace === undefined || sel.namespace === meta.namespace)
    && (sel.group === undefined || sel.group === group)
    && (sel.version === undefined || sel.version === version);
}

/** Render the kustomization in `dir` to a list of resources. */
export interface ConfigMapGenerator {
  name: string;
  files?: string[];
  options?: { disableNameSuffixHash?: boolean; labels?: Record<string, string> };
}

/** A ConfigMap from files ("key=path" or "path", the key being the file's name), as kustomize generates it. */
function generateConfigMap(dir: string, file: string, g: ConfigMapGenerator): JsonObject {
  const unknown = Object.keys(g).filter((f) => !['name', 'files', 'options'].includes(f));
  if (unknown.length > 0) throw new Error(`${file}: configMapGenerator fields not supported by this renderer: ${unknown.join(', ')}`);
  if (g.options?.disableNameSuffixHash !== true) throw new Error(`${file}: configMapGenerator ${g.name}: only disableNameSuffixHash: true is supported`);
  const data: JsonObject = {};
  for (const f of g.files ?? []) {
    const [key, path] = f.includes('=') ? [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)] : [f.slice(f.lastIndexOf('/') + 1), f];
    data[key] = readFileSync(resolve(dir, path), 'utf8');
  }
  const metadata: JsonObject = { name: g.name, ...(g.options.labels ? { labels: { ...g.options.labels } } : {}) };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

export function kustomize(dir: string): JsonObject[] {
  const file = findKustomization(dir);
  const [k] = readYamlFile(file);
  if (!isObject(k)) throw new Error(`${file}: not a mapping`);
  const unknown = Object.keys(k).filter((f) => !(KUSTOMIZATION_FIELDS as readonly string[]).includes(f));
  if (unknown.length > 0) throw new Error(`${file}: fields not supported by this renderer: ${unknown.join(', ')}`);

  const resources: JsonObject[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    const docs = statSync(p).isDirectory() ? kustomize(p) : readYamlFile(p);
    for (const d of docs) {
      if (!isObject(d) || typeof d.kind !== 'string' || !isObject(d.metadata)) throw new Error(`${p}: a resource needs kind and metadata`);
      if (resources.some((x) => idOf(x) === idOf(d))) throw new Error(`${p}: ${idOf(d)} is defined twice`);
      resources.push(structuredClone(d));
    }
  }

  for (const g of (k.configMapGenerator ?? []) as unknown as ConfigMapGenerator[]) resources.push(generateConfigMap(dir, file, g));

  for (const p of (k.patches ?? []) as KustomizePatch[]) {
    const where = p.path ? resolve(dirname(file), p.path) : `${file} (inline patch)`;
    const text = p.path ? readFileSync(where, 'utf8') : p.patch;
    if (typeof text !== 'string') throw new Error(`${file}: a patch needs path or patch`);
    for (const patch of parseYamlDocuments(text, where)) {
      if (Array.isArray(patch)) throw new Error(`${where}: JSON 6902 patches are not supported`);
      if (!isObject(patch)) throw new Error(`${where}: a strategic merge patch must be a mapping`);
      const meta = isObject(patch.metadata) ? patch.metadata : {};
      const sel = p.target ?? {
        kind: String(patch.kind), name: String(meta.name),
        ...(meta.namespace ? { namespace: String(meta.namespace) } : {}),
      };
      const hits = resources.filter((r) => matches(r, sel));
      if (hits.length === 0) throw new Error(`${where}: the patch matches no resource (${JSON.stringify(sel)})`);
      for (const r of hits) {
        const body = p.target ? { ...patch, metadata: { ...meta, name: (r.metadata as JsonObject).name! } } : patch;
        const merged = strategicMerge(String(r.kind), r, body) as JsonObject;
        resources.splice(resources.indexOf(r), 1, merged);
      }
    }
  }

  if (typeof k.namespace === 'string') for (const r of resources) setNamespace(r, k.namespace);
  if (Array.isArray(k.images)) for (const r of resources) setImages(r, k.images as unknown as ImageRule[]);
  return resources;
}
