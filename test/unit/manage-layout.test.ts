// The structs and constants of src/native/rbd-metadata.ts, rbd-image.ts and rbd-pool.ts against gcc on the
// installed librbd headers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageConstants } from '../../src/native/rbd-image.js';
import { lockConstants } from '../../src/native/rbd-lock.js';
import { metadataConstants, metadataLayouts } from '../../src/native/rbd-metadata.js';
import { poolConstants } from '../../src/native/rbd-pool.js';

const manageLayouts = metadataLayouts;
const manageConstants = (): Record<string, number> => ({ ...poolConstants(), ...imageConstants(), ...lockConstants(), ...metadataConstants() });

function compile(): string {
  const lines: string[] = [];
  for (const [type, { offsets }] of Object.entries(manageLayouts())) {
    lines.push(`  printf("S\\t${type}\\t%zu\\n", sizeof(${type}));`);
    for (const field of Object.keys(offsets)) lines.push(`  printf("F\\t${type}\\t${field}\\t%zu\\n", offsetof(${type}, ${field}));`);
  }
  for (const name of Object.keys(manageConstants())) lines.push(`  printf("O\\t${name}\\t%d\\n", (int)(${name}));`);
  const src = `#include <stddef.h>\n#include <stdio.h>\n#include <rados/librados.h>\n#include <rbd/librbd.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-manage-layout-'));
  writeFileSync(join(dir, 'l.c'), src);
  execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
  return execFileSync(join(dir, 'l'), { encoding: 'utf8' });
}

describe('rbd-metadata, rbd-image and rbd-pool bindings: layouts and constants (koffi vs gcc)', () => {
  const out = compile();
  const structs: Record<string, { size: number; offsets: Record<string, number> }> = {};
  const constants: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [kind, a, b, c] = line.split('\t') as [string, string, string, string?];
    if (kind === 'S') (structs[a] ??= { size: 0, offsets: {} }).size = Number(b);
    else if (kind === 'F') (structs[a] ??= { size: 0, offsets: {} }).offsets[b] = Number(c);
    else constants[a] = Number(b);
  }

  it.each(Object.keys(manageLayouts()))('%s: same size and field offsets', (type) => {
    expect(manageLayouts()[type]).toEqual(structs[type]);
  });

  it('enum and flag values', () => {
    expect(manageConstants()).toEqual(constants);
  });

  it('rbd_config_option_t is 24 bytes on LP64', () => {
    expect(manageLayouts().rbd_config_option_t!.size).toBe(24);
  });
});
