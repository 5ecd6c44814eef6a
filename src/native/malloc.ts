// glibc's allocator makes one arena per thread that allocates, up to 8 per core. librados/librbd allocate
// on libuv's workers and on their own messenger threads, so a busy service holds tens of mostly idle arenas:
// RSS grows with the thread count, not with the work. Capping the arenas keeps memory flat.
import { koffi } from './library.js';

/** M_ARENA_MAX from <malloc.h> */
const M_ARENA_MAX = -8;

let libc: ReturnType<typeof koffi.load> | undefined;

/**
 * Cap glibc's malloc arenas unless MALLOC_ARENA_MAX is set in the environment (glibc honours that itself).
 * Returns the cap applied, or undefined when the environment decides or this is not glibc.
 */
export function capMallocArenas(max: number): number | undefined {
  if (process.env.MALLOC_ARENA_MAX) return undefined;
  try {
    libc ??= koffi.load('libc.so.6');
    // int mallopt(int param, int value);  — returns 1 on success, 0 on error
    const mallopt = libc.func('int mallopt(int param, int value)');
    return (mallopt(M_ARENA_MAX, max) as number) === 1 ? max : undefined;
  } catch {
    return undefined; // musl or another libc: nothing to do
  }
}
