// Checks a whole k8s/ tree: every YAML document on its own, plus what each kustomization renders to.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isObject, kustomize, readYamlFile, type JsonObject } from './kustomize.js';
import { validateManifests, type Manifest, type Problem } from './validate.js';

export const yamlFiles = (root: string): string[] =>
  readdirSync(root, { recursive: true }).map(String)
    .filter((f) => /\.ya?ml$/.test(f) || f.endsWith('Kustomization')).sort().map((f) => join(root, f));

export const isKustomizationFile = (f: string): boolean => /(^|\/)(kustomization\.ya?ml|Kustomization)$/.test(f);

/** Files named by some kustomization's `patches` (checked as partial objects). */
export function patchFiles(root: string): Set<string> {
  const out = new Set<string>();
  for (const f of yamlFiles(root).filter(isKustomizationFile)) {
    const [k] = readYamlFile(f);
    if (!isObject(k) || !Array.isArray(k.patches)) continue;
    for (const p of k.patches) if (isObject(p) && typeof p.path === 'string') out.add(resolve(dirname(f), p.path));
  }
  return out;
}

export interface TreeReport {
  problems: Problem[];
  documents: number;
  /** kustomization directory (relative to root) → rendered resources */
  rendered: Map<string, JsonObject[]>;
}

/** Validate every document under `root` and the rendering of every kustomization in it. */
export function checkTree(root: string): TreeReport {
  const problems: Problem[] = [];
  const manifests: Manifest[] = [];
  const rendered = new Map<string, JsonObject[]>();
  let patches = new Set<string>();
  try {
    patches = patchFiles(root);
  } catch (e) {
    problems.push({ source: root, message: (e as Error).message });
  }
  for (const f of yamlFiles(root)) {
    const rel = relative(resolve(root, '..'), f);
    try {
      readYamlFile(f).forEach((object, i) => manifests.push({ source: `${rel}#${i}`, object, patch: patches.has(resolve(f)) }));
    } catch (e) {
      problems.push({ source: rel, message: (e as Error).message });
    }
    if (isKustomizationFile(f)) {
      const dir = dirname(f);
      try {
        const out = kustomize(dir);
        rendered.set(relative(root, dir), out);
        out.forEach((object, i) => manifests.push({ source: `kustomize ${relative(resolve(root, '..'), dir)} → #${i} ${String(object.kind)}`, object }));
      } catch (e) {
        problems.push({ source: `kustomize ${relative(resolve(root, '..'), dir)}`, message: (e as Error).message });
      }
    }
  }
  problems.push(...validateManifests(manifests));
  return { problems, documents: manifests.length, rendered };
}

export const readText = (path: string): string => readFileSync(path, 'utf8');
