// A librbd client in a process of its own that takes an image's exclusive lock by writing and keeps writing
// (locks.test.ts, sparsify.test.ts): the C source below, compiled once per test file with gcc against the
// installed librados/librbd. It writes 64 KiB of one fill byte at offset 0 every 20 ms and prints
//   "LOCKED <address> <client id>"   after its first write (it owns the exclusive lock then),
//   "FAILED <rc>"                    at the first write that fails (then exits 3): a fenced client.
// Never the test process's own librados client: fencing it would blocklist the test itself.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterDir } from './cluster.js';
import { eventually } from './eventually.js';

const SOURCE = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

int main(int argc, char **argv) {
  if (argc != 7) { fprintf(stderr, "usage: CONF KEYRING POOL NAMESPACE IMAGE BYTE\n"); return 2; }
  rados_t cl; rados_ioctx_t io; rbd_image_t im;
  static char buf[65536];
  memset(buf, atoi(argv[6]), sizeof buf);
  if (rados_create2(&cl, "ceph", "client.admin", 0) < 0) return 2;
  if (rados_conf_read_file(cl, argv[1]) < 0) return 2;
  rados_conf_set(cl, "keyring", argv[2]);
  rados_conf_set(cl, "rados_osd_op_timeout", "5");
  rados_conf_set(cl, "rados_mon_op_timeout", "5");
  int r = rados_connect(cl);
  if (r < 0) { fprintf(stderr, "connect %d\n", r); return 2; }
  if ((r = rados_ioctx_create(cl, argv[3], &io)) < 0) { fprintf(stderr, "ioctx %d\n", r); return 2; }
  rados_ioctx_set_namespace(io, argv[4]);
  if ((r = rbd_open(io, argv[5], &im, NULL)) < 0) { fprintf(stderr, "open %d\n", r); return 2; }
  r = (int)rbd_write(im, 0, sizeof buf, buf);
  if (r != (int)sizeof buf) { fprintf(stderr, "first write %d\n", r); return 2; }
  char *addr = NULL;
  rados_getaddrs(cl, &addr);
  printf("LOCKED %s %llu\n", addr ? addr : "?", (unsigned long long)rados_get_instance_id(cl));
  fflush(stdout);
  for (;;) {
    usleep(20000);
    r = (int)rbd_write(im, 0, sizeof buf, buf);
    if (r < 0) { printf("FAILED %d\n", r); fflush(stdout); _exit(3); }
  }
}
`;

/** Compile the holder (once per call); the path of the binary. */
export function compileLockHolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-lock-holder-'));
  writeFileSync(join(dir, 'holder.c'), SOURCE);
  execFileSync('gcc', ['-O1', '-Wall', '-o', join(dir, 'holder'), join(dir, 'holder.c'), '-lrados', '-lrbd'], { stdio: 'pipe' });
  return join(dir, 'holder');
}

export interface LockHolder {
  child: ChildProcess;
  /** its client address, as librbd names a lock owner */
  address: string;
  /** its client id (client.<id>) */
  id: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** Start the holder on `pool[/namespace]/image` and wait until it owns the exclusive lock. */
export async function startLockHolder(binary: string, pool: string, namespace: string, image: string, fill = 0xbb): Promise<LockHolder> {
  const dir = clusterDir();
  const child = spawn(binary, [`${dir}/ceph.conf`, `${dir}/ceph.client.admin.keyring`, pool, namespace, image, String(fill)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const m = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`the lock holder exited ${child.exitCode}: ${out}`);
    return /^LOCKED (\S+) (\d+)$/m.exec(out) ?? false;
  }, { timeoutMs: 20_000, what: 'the lock holder owning the lock' });
  return { child, address: m[1]!, id: Number(m[2]), output: () => out, exited };
}
