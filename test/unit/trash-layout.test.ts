// rbd_trash_image_info_t and the trash source enum of src/native/rbd-trash.ts against gcc on the installed headers,
// and the lock flag / cmpxattr constants of src/native/rados-object.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trashConstants, trashLayouts } from '../../src/native/rbd-trash.js';
import { LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_LOCK_FLAG_MAY_RENEW, timeval } from '../../src/native/rados-object.js';

function compile(): string {
  const lines: string[] = [];
  for (const [type, { offsets }] of Object.entries(trashLayouts())) {
    lines.push(`  printf("S\\t${type}\\t%zu\\n", sizeof(${type}));`);
    for (const field of Object.keys(offsets)) lines.push(`  printf("F\\t${type}\\t${field}\\t%zu\\n", offsetof(${type}, ${field}));`);
  }
  const constants = { ...trashConstants(), LIBRADOS_CMPXATTR_OP_EQ: 0, LIBRADOS_LOCK_FLAG_MAY_RENEW: 0 };
  for (const name of Object.keys(constants)) lines.push(`  printf("O\\t${name}\\t%d\\n", (int)(${name}));`);
  lines.push('  printf("S\\tstruct timeval\\t%zu\\n", sizeof(struct timeval));');
  lines.push('  printf("F\\tstruct timeval\\ttv_usec\\t%zu\\n", offsetof(struct timeval, tv_usec));');
  const src = `#include <stddef.h>\n#include <stdio.h>\n#include <sys/time.h>\n#include <rados/librados.h>\n#include <rbd/librbd.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-trash-layout-'));
  writeFileSync(join(dir, 'l.c'), src);
  execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
  return execFileSync(join(dir, 'l'), { encoding: 'utf8' });
}

describe('rbd-trash and rados-object bindings: layouts and constants (koffi vs gcc)', () => {
  const out = compile();
  const structs: Record<string, { size: number; offsets: Record<string, number> }> = {};
  const constants: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [kind, a, b, c] = line.split('\t') as [string, string, string, string?];
    if (kind === 'S') (structs[a] ??= { size: 0, offsets: {} }).size = Number(b);
    else if (kind === 'F') (structs[a] ??= { size: 0, offsets: {} }).offsets[b] = Number(c);
    else constants[a] = Number(b);
  }

  it('rbd_trash_image_info_t: same size and field offsets', () => {
    expect(trashLayouts().rbd_trash_image_info_t).toEqual(structs.rbd_trash_image_info_t);
    expect(structs.rbd_trash_image_info_t!.size).toBe(40);
  });

  it('RBD_TRASH_IMAGE_SOURCE_* and the librados constants', () => {
    expect({ ...trashConstants(), LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_LOCK_FLAG_MAY_RENEW }).toEqual(constants);
  });

  it('struct timeval is the 16-byte {tv_sec, tv_usec} the lease Buffer is built as', () => {
    expect(structs['struct timeval']).toEqual({ size: 16, offsets: { tv_usec: 8 } });
    const b = timeval(15_250);
    expect(b.readBigInt64LE(0)).toBe(15n);
    expect(b.readBigInt64LE(8)).toBe(250_000n);
  });
});
