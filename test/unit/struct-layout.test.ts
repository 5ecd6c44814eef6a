// koffi's struct layouts must equal what gcc computes from librbd's and librados' own headers.
// Fails (never skips) when gcc or the -dev headers are missing: scripts/setup.sh installs them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageOptionValues, structLayouts } from '../../src/native/layout.js';

function cLayouts(): { structs: Record<string, { size: number; offsets: Record<string, number> }>; options: Record<string, number> } {
  const layouts = structLayouts();
  const lines: string[] = [];
  for (const [type, { offsets }] of Object.entries(layouts)) {
    lines.push(`  printf("S\\t${type}\\t%zu\\n", sizeof(${type}));`);
    for (const field of Object.keys(offsets)) lines.push(`  printf("F\\t${type}\\t${field}\\t%zu\\n", offsetof(${type}, ${field}));`);
  }
  for (const name of Object.keys(imageOptionValues())) lines.push(`  printf("O\\t${name}\\t%d\\n", (int)${name});`);
  const src = `#include <stddef.h>\n#include <stdio.h>\n#include <time.h>\n#include <rados/librados.h>\n#include <rbd/librbd.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-layout-'));
  writeFileSync(join(dir, 'layout.c'), src);
  try {
    execFileSync('gcc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')], { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot compile against <rbd/librbd.h> (install gcc librbd-dev librados-dev; scripts/setup.sh does):\n${err.stderr?.toString() ?? err.message}`);
  }
  const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
  const structs: Record<string, { size: number; offsets: Record<string, number> }> = {};
  const options: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [kind, a, b, c] = line.split('\t') as [string, string, string, string?];
    if (kind === 'S') (structs[a] ??= { size: 0, offsets: {} }).size = Number(b);
    else if (kind === 'F') (structs[a] ??= { size: 0, offsets: {} }).offsets[b] = Number(c);
    else if (kind === 'O') options[a] = Number(b);
  }
  return { structs, options };
}

describe('C struct layouts (koffi vs gcc on the installed headers)', () => {
  const c = cLayouts();
  const js = structLayouts();

  it.each(Object.keys(js))('%s: same size and field offsets', (type) => {
    expect(js[type]).toEqual(c.structs[type]);
  });

  it('RBD_IMAGE_OPTION_* constants', () => {
    expect(imageOptionValues()).toEqual(c.options);
  });

  it('the sizes are the LP64 ones the bindings were written for', () => {
    expect(js.rbd_image_spec_t!.size).toBe(16);
    expect(js.rbd_image_watcher_t!.size).toBe(24);
    expect(js['struct timespec']!.size).toBe(16);
  });
});
