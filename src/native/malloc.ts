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

let trim: ((pad: number) => number) & { async: (pad: number, cb: (err: unknown, res: number) => void) => void } | undefined;

/**
 * Give freed heap memory back to the kernel (glibc malloc_trim), on a libuv worker so the event loop
 * never waits on it. librbd frees most of what an image open allocates, but glibc keeps those pages
 * mapped; after a burst of listings RSS would otherwise stay at its high-water mark.
 */
export function trimMalloc(): Promise<boolean> {
  try {
    libc ??= koffi.load('libc.so.6');
    // int malloc_trim(size_t pad);  — returns 1 if memory was released
    trim ??= libc.func('int malloc_trim(size_t pad)') as unknown as typeof trim;
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => trim!.async(0, (err, res) => resolve(!err && res === 1)));
}
