// The structs and constants of src/native/rbd-snapshot.ts, rbd-clone.ts and rbd-migration.ts against gcc on the installed
// librbd headers: a wrong offset would have librbd write strings into the wrong place.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneConstants, cloneLayouts } from '../../src/native/rbd-clone.js';
import { migrationConstants, migrationLayouts } from '../../src/native/rbd-migration.js';
import { snapshotConstants, snapshotLayouts } from '../../src/native/rbd-snapshot.js';

const layouts = { ...snapshotLayouts(), ...cloneLayouts(), ...migrationLayouts() };
const constants = { ...snapshotConstants(), ...cloneConstants(), ...migrationConstants() };

function compile(): string {
  const lines: string[] = [];
  for (const [type, { offsets }] of Object.entries(layouts)) {
    lines.push(`  printf("S\\t${type}\\t%zu\\n", sizeof(${type}));`);
    for (const field of Object.keys(offsets)) lines.push(`  printf("F\\t${type}\\t${field}\\t%zu\\n", offsetof(${type}, ${field}));`);
  }
  for (const name of Object.keys(constants)) lines.push(`  printf("O\\t${name}\\t%d\\n", (int)(${name}));`);
  const src = `#include <stddef.h>\n#include <stdio.h>\n#include <rados/librados.h>\n#include <rbd/librbd.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-snap-layout-'));
  writeFileSync(join(dir, 'l.c'), src);
  execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
  return execFileSync(join(dir, 'l'), { encoding: 'utf8' });
}

describe('snapshot and clone bindings: layouts and constants (koffi vs gcc)', () => {
  const out = compile();
  const structs: Record<string, { size: number; offsets: Record<string, number> }> = {};
  const values: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [kind, a, b, c] = line.split('\t') as [string, string, string, string?];
    if (kind === 'S') (structs[a] ??= { size: 0, offsets: {} }).size = Number(b);
    else if (kind === 'F') (structs[a] ??= { size: 0, offsets: {} }).offsets[b] = Number(c);
    else values[a] = Number(b);
  }

  it.each(Object.keys(layouts))('%s: same size and field offsets', (type) => {
    expect(layouts[type]).toEqual(structs[type]);
  });

  it('enum and flag values', () => {
    expect(constants).toEqual(values);
  });

  it('the LP64 sizes the bindings were written for', () => {
    expect(layouts.rbd_snap_info_t!.size).toBe(24);
    expect(layouts.rbd_linked_image_spec_t!.size).toBe(48);
    expect(layouts.rbd_snap_spec_t!.size).toBe(24);
    expect(layouts.rbd_image_migration_status_t!.size).toBe(80);
  });
});
