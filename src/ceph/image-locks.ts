// The locks of one image, and breaking them with fencing.
//
// What is read (a read-only handle, which adds no watcher of its own):
//   - the exclusive lock's owner(s) and mode: librbd names an owner by its client address. rbd_lock_get_owners
//     answers -EINVAL on a read-only handle, so reads take them from librbd's own locker entry (below), where
//     rbd_lock_get_owners reads them; the break (a read-write handle) asks rbd_lock_get_owners;
//   - the advisory lockers (rbd_list_lockers: `rbd lock add` entries on the header object; the exclusive lock's
//     own entry is among them, with a cookie "auto <handle>"): client, cookie, address, tag, exclusive;
//   - the watchers (rbd_watchers_list), matched to owners and lockers by address (a watcher gives the client id).
// Each owner or locker is marked `service: true` when it is one of this process's own librados clients
// (connection.ts ownClients: the request client and the task runners' clients).
//
// Breaking (ImageLocks.break, under the image's mutation lock): refused (LockHeldByServiceError) when any
// target is one of this process's clients, before anything is done. Then the protocol fences before it breaks:
//   1. every target address is blocklisted (`osd blocklist add`, the mon's default expiry) whatever
//      rbd_blocklist_on_break says (a pool or image may override it with `conf_` metadata), and this client
//      catches up with the OSD map that blocklists them: an OSD serves nothing from a blocklisted client once it
//      has that map, and drops its watches — so a frozen owner that wakes up cannot write any more;
//   2. the advisory lockers that were listed and are still there are broken (rbd_break_lock, on the read-only
//      handle: librbd refuses a read-write open, EBUSY, while an advisory exclusive lock is on the header);
//   3. the exclusive lock is broken (rbd_lock_break, on a read-write handle: librbd blocklists the owner again
//      when rbd_blocklist_on_break is true, then removes the lock); -ENOENT: gone meanwhile (fine); -EBUSY:
//      another client owns it now (LockOwnerChangedError: never break a lock nobody was shown).
import { E } from '../native/errno.js';
import { decodeStringArray, splitNulList } from '../native/memory.js';
import { radosCluster } from '../native/rados-cluster.js';
import { RBD_LOCK_MODE, rbdLock } from '../native/rbd-lock.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import { bareAddress, ownClients, type CephSession } from './connection.js';
import { CephError, check, LockHeldByServiceError, LockOwnerChangedError } from './errors.js';
import { imageKey, mutationLocks } from './image-lock.js';
import { listWatchers, type Watcher } from './image-info.js';
import { withOpenImage } from './open-image.js';
import { withGrowingCapacity } from './retry.js';

export interface LockOwner {
  /** the owner's client address, as librbd names it */
  address: string;
  mode: 'exclusive' | 'shared';
  /** "client.<id>" when a watcher has the same address */
  client: string | null;
  /** one of this service's own clients (never broken by it) */
  service: boolean;
}

export interface Locker {
  client: string;
  cookie: string;
  address: string;
  /** librbd's own entry of the exclusive lock (cookie "auto …"), broken with the exclusive lock */
  managed: boolean;
  service: boolean;
}

export interface ImageLockState {
  owners: LockOwner[];
  lockers: { exclusive: boolean; tag: string; entries: Locker[] };
  watchers: (Watcher & { service: boolean })[];
}

export interface BrokenLock { kind: 'exclusive' | 'advisory'; address: string; client: string | null; cookie: string | null }

export interface BreakOutcome {
  broken: BrokenLock[];
  /** the client addresses blocklisted */
  fenced: string[];
}

const isOwn = (address: string, id?: number): boolean =>
  ownClients().some((c) => (c.address !== '' && c.address === bareAddress(address)) || (id !== undefined && c.id === id));

/** The exclusive lock's owners and mode; none when unlocked (-ENOENT) or without the exclusive-lock feature (-EINVAL). */
type Owners = { mode: 'exclusive' | 'shared'; owners: string[] };
export function lockOwnersOf(img: Pointer, target: string): Promise<Owners> {
  return withGrowingCapacity<Owners>('image', 'rbd_lock_get_owners', target, 4, async (capacity) => {
    const mode: [number] = [0];
    const count: [number] = [capacity];
    const array = Buffer.alloc(8 * capacity);
    const rc = await native<number>('rbd_lock_get_owners', rbdLock.getOwners, img, mode, array, count);
    if (rc === -E.ERANGE) return { needed: count[0] };
    if (rc === -E.ENOENT || rc === -E.EINVAL) return { value: { mode: 'exclusive' as const, owners: [] } };
    check('image', 'rbd_lock_get_owners', rc, target);
    try {
      const owners = decodeStringArray(array, count[0]);
      return { value: { mode: mode[0] === RBD_LOCK_MODE.SHARED ? 'shared' as const : 'exclusive' as const, owners } };
    } finally {
      rbdLock.getOwnersCleanup(array, count[0]);
    }
  });
}

/** rbd_list_lockers: the entries of the header object's lock. */
type Lockers = { exclusive: boolean; tag: string; entries: Omit<Locker, 'service'>[] };
export function listLockersOf(img: Pointer, target: string): Promise<Lockers> {
  return withGrowingCapacity<Lockers>('image', 'rbd_list_lockers', target, 1024, async (capacity) => {
    const exclusive: [number] = [0];
    const lens: [number][] = [[capacity], [capacity], [capacity], [capacity]];
    const bufs = lens.map(() => Buffer.alloc(capacity));
    const rc = Number(await native<number | bigint>('rbd_list_lockers', rbdLock.listLockers, img, exclusive,
      bufs[0], lens[0], bufs[1], lens[1], bufs[2], lens[2], bufs[3], lens[3]));
    if (rc === -E.ERANGE) return { needed: Math.max(...lens.map((l) => l[0])) };
    check('image', 'rbd_list_lockers', rc, target);
    const [tag, clients, cookies, addrs] = bufs.map((b, i) => splitNulList(b, lens[i]![0])) as [string[], string[], string[], string[]];
    const entries = clients.slice(0, Math.max(0, rc)).map((client, i) => {
      const cookie = cookies[i] ?? '';
      return { client, cookie, address: addrs[i] ?? '', managed: cookie.startsWith('auto ') };
    });
    return { value: { exclusive: exclusive[0] !== 0, tag: tag[0] ?? '', entries } };
  });
}

/** Owners, lockers and watchers of an open image, each marked when it is one of this process's clients. */
async function stateOf(img: Pointer, target: string, readOnly: boolean): Promise<ImageLockState> {
  const watchers = await listWatchers(img, target);
  const lockers = await listLockersOf(img, target);
  const { mode, owners } = readOnly ? ownersFromLockers(lockers) : await lockOwnersOf(img, target);
  const watcherAt = (address: string) => watchers.find((w) => bareAddress(w.address) === bareAddress(address));
  return {
    owners: owners.map((address) => {
      const w = watcherAt(address);
      return { address, mode, client: w ? `client.${w.id}` : null, service: isOwn(address, w?.id) };
    }),
    lockers: { ...lockers, entries: lockers.entries.map((l) => ({ ...l, service: isOwn(l.address, clientId(l.client)) })) },
    watchers: watchers.map((w) => ({ ...w, service: isOwn(w.address, w.id) })),
  };
}

/** The exclusive lock's owners' addresses through a read-only handle (see ownersFromLockers). */
export async function readOnlyLockOwners(img: Pointer, target: string): Promise<string[]> {
  return ownersFromLockers(await listLockersOf(img, target)).owners;
}

/**
 * The exclusive lock's owners as a read-only handle can tell them (rbd_lock_get_owners answers -EINVAL on one):
 * librbd's own entries among the lockers (tag "internal", cookie "auto <handle>"), which is where
 * rbd_lock_get_owners reads them from.
 */
function ownersFromLockers(lockers: Lockers): Owners {
  const managed = lockers.tag === 'internal' ? lockers.entries.filter((l) => l.managed) : [];
  return { mode: lockers.exclusive ? 'exclusive' : 'shared', owners: managed.map((l) => l.address) };
}

const clientId = (client: string): number | undefined => {
  const m = /^client\.(\d+)$/.exec(client);
  return m ? Number(m[1]) : undefined;
};

export class ImageLocks {
  constructor(private readonly session: CephSession) {}

  /** The locks of `spec/image` (a read-only handle: no watcher of ours among them). ENOENT for no such image. */
  get(spec: string, image: string): Promise<ImageLockState> {
    return this.session.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, (img) => stateOf(img, `${spec}/${image}`, true)));
  }

  /** The exclusive lock's owners' addresses (for the answers that refuse a change of an image in use). */
  async owners(spec: string, image: string): Promise<string[]> {
    const target = `${spec}/${image}`;
    return this.session.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true },
      (img) => readOnlyLockOwners(img, target)));
  }

  /** Fence and break every lock of the image (the protocol in the header). */
  break(spec: string, image: string): Promise<BreakOutcome> {
    const target = `${spec}/${image}`;
    return mutationLocks(this.session).run([imageKey(spec, image)], () => this.session.withIoctx(spec, async (io) => {
      // read-only first: a read-write open fails (EBUSY) while an advisory exclusive lock is on the header
      const { fenced, broken, owners } = await withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
        const state = await stateOf(img, target, true);
        const advisory = state.lockers.entries.filter((l) => !l.managed);
        const own = [...state.owners.filter((o) => o.service).map((o) => o.address),
          ...advisory.filter((l) => l.service).map((l) => l.address)];
        if (own.length > 0) throw new LockHeldByServiceError(spec, image, [...new Set(own)]);
        const addresses = [...new Set([...state.owners.map((o) => o.address), ...advisory.map((l) => l.address)])].filter((a) => a !== '');
        await this.fence(addresses);
        const done: BrokenLock[] = [];
        for (const l of advisory) {
          const rc = await native<number>('rbd_break_lock', rbdLock.breakLock, img, l.client, l.cookie);
          if (rc === -E.ENOENT) continue; // released or broken meanwhile
          check('image', 'rbd_break_lock', rc, target);
          done.push({ kind: 'advisory', address: l.address, client: l.client, cookie: l.cookie });
        }
        return { fenced: addresses, broken: done, owners: state.owners };
      });
      if (owners.length === 0) return { broken, fenced };
      // rbd_lock_break needs a read-write handle (and asks librbd who owns the lock: it must be who was fenced)
      await withOpenImage(io, spec, image, {}, async (img) => {
        for (const o of owners) {
          const rc = await native<number>('rbd_lock_break', rbdLock.lockBreak, img,
            o.mode === 'shared' ? RBD_LOCK_MODE.SHARED : RBD_LOCK_MODE.EXCLUSIVE, o.address);
          if (rc === -E.ENOENT) continue; // released or broken meanwhile
          if (rc === -E.EBUSY) throw new LockOwnerChangedError(spec, image, o.address, new CephError('image', 'rbd_lock_break', rc, target));
          check('image', 'rbd_lock_break', rc, target);
          broken.push({ kind: 'exclusive', address: o.address, client: o.client, cookie: null });
        }
      });
      return { broken, fenced };
    }));
  }

  /** Blocklist `addresses`, then catch up with the OSD map that blocklists them (see the header). */
  private async fence(addresses: readonly string[]): Promise<void> {
    if (addresses.length === 0) return;
    for (const addr of addresses) await this.session.monCommand({ prefix: 'osd blocklist', blocklistop: 'add', addr });
    await this.session.withCluster('rados_wait_for_latest_osdmap', (cluster) =>
      nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster));
  }
}
