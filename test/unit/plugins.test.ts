// The plugins of src/http/plugins: each is a fastify-plugin with an rbd-* name, and what it depends on is a
// plugin that exists — Fastify then refuses one registered before its dependencies; and the one SIGHUP
// fan-out of src/startup.ts calls every reload in order, one failing without stopping the others.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Reloads } from '../../src/startup.js';

const DIR = resolve(import.meta.dirname, '../../src/http/plugins');
const META = Symbol.for('plugin-meta');
interface Meta { name?: string; dependencies?: string[] }

async function pluginsByFile(): Promise<Map<string, { exportName: string; meta: Meta; plugin: unknown }[]>> {
  const out = new Map<string, { exportName: string; meta: Meta; plugin: unknown }[]>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
    const mod = (await import(join(DIR, file))) as Record<string, unknown>;
    out.set(file, Object.entries(mod).flatMap(([exportName, v]) => {
      const meta = typeof v === 'function' ? (v as unknown as Record<symbol, Meta | undefined>)[META] : undefined;
      return meta ? [{ exportName, meta, plugin: v }] : [];
    }));
  }
  return out;
}

describe('plugins', () => {
  it('every file is at least one named plugin; every dependency names one of them', async () => {
    const byFile = await pluginsByFile();
    const all = [...byFile.values()].flat();
    for (const [file, plugins] of byFile) expect(plugins.length, `${file} exports a fastify-plugin`).toBeGreaterThan(0);
    const names = all.map((p) => p.meta.name);
    for (const n of names) expect(n).toMatch(/^rbd-[a-z-]+$/);
    expect(new Set(names).size).toBe(names.length);
    for (const p of all) for (const d of p.meta.dependencies ?? []) expect(names, `${p.meta.name} depends on ${d}`).toContain(d);
  });

  it('a plugin registered without its dependency is refused at start', async () => {
    const { accessLogPlugin } = await import('../../src/http/plugins/access-log.js');
    const app = Fastify();
    await expect(app.register(accessLogPlugin).ready()).rejects.toThrow(/rbd-core/);
    await app.close().catch(() => undefined);
  });
});

describe('Reloads (the one SIGHUP handler)', () => {
  it('runs every reload in the order added; one that throws is logged and the others still run', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
    const reloads = new Reloads(logger);
    const ran: string[] = [];
    reloads.add('audit log file', () => ran.push('audit'));
    reloads.add('API tokens', () => { throw new Error('token file unreadable'); });
    reloads.add('TLS certificate', () => ran.push('tls'));
    reloads.run('SIGHUP');
    expect(ran).toEqual(['audit', 'tls']);
    expect(reloads.names).toEqual(['audit log file', 'API tokens', 'TLS certificate']);
    expect(lines.join('')).toMatch(/"reload":"API tokens".*token file unreadable.*reload failed/);
  });
});
