// A pool's (or namespace's) mirroring: its mirror mode, this cluster's site name, peers by bootstrap token, and
// the status summary of its mirrored images. The peer bootstrap token is a secret (it carries a cephx key of
// the peer user): it is handed back to the caller and never kept or put in an error message here.
import { E } from '../../native/errno.js';
import { koffi } from '../../native/library.js';
import { cString } from '../../native/memory.js';
import {
  MIRROR_IMAGE_STATUS_STATES, MIRROR_SIZES, RBD_MIRROR_MODE, RBD_MIRROR_PEER_DIRECTION, rbdMirror, RbdMirrorPeerSite,
  type MirrorPeerSiteValue,
} from '../../native/rbd-mirror.js';
import { native, nativeChecked } from '../call.js';
import type { CephSession } from '../connection.js';
import { CephError, check, MirroringDisabledError, MirrorModeConflictError, MirrorPeerNotFoundError, MirrorTokenInvalidError } from '../errors.js';
import { mgrCommand } from '../iostat.js';
import { splitPoolSpec } from '../spec.js';

export const POOL_MIRROR_MODES = ['disabled', 'image', 'pool'] as const;
export type PoolMirrorMode = (typeof POOL_MIRROR_MODES)[number];
export const PEER_DIRECTIONS = ['rx-only', 'rx-tx'] as const;
export type PeerDirection = (typeof PEER_DIRECTIONS)[number];
export type MirrorStatusState = (typeof MIRROR_IMAGE_STATUS_STATES)[number];

const MODE_NAMES: Record<number, PoolMirrorMode> = { 0: 'disabled', 1: 'image', 2: 'pool' };
const DIRECTION_NAMES: Record<number, string> = { 0: 'rx-only', 1: 'tx-only', 2: 'rx-tx' };

export interface PoolMirroring {
  mode: PoolMirrorMode;
  /** this cluster's site name (cluster-wide; the fsid until one is set) */
  siteName: string;
}

export interface MirrorPeer {
  uuid: string;
  siteName: string;
  direction: string;
  /** the peer's mirror uuid (empty until its rbd-mirror daemon has registered) */
  mirrorUuid: string;
  clientName: string;
  /** when the peer's daemon was last seen (null: never) */
  lastSeen: string | null;
}

export interface MirrorStatusSummary {
  /** mirrored images by their replay state (as reported by the rbd-mirror daemons) */
  states: Partial<Record<MirrorStatusState, number>>;
  total: number;
  /** error: an image in error; warning: one syncing, starting, stopping or unknown; ok otherwise (as `rbd mirror pool status`) */
  imageHealth: 'ok' | 'warning' | 'error';
  /** the rbd-mirror daemons of this cluster (from the mgr's service map); null when this key may not read it */
  daemons: { id: string; instanceId: string; version: string; startedAt: string | null }[] | null;
}

/** What a bootstrap token decodes to (librbd's format: base64 of a JSON object); only checked, never kept. */
function checkToken(token: string): void {
  const bad = (why: string): never => { throw new MirrorTokenInvalidError(why); };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) bad('is not base64');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    return bad('does not decode to a bootstrap token (JSON)');
  }
  const o = json as Record<string, unknown>;
  for (const field of ['fsid', 'client_id', 'key', 'mon_host']) {
    if (typeof o?.[field] !== 'string' || (o[field] as string).length === 0) bad(`lacks its ${field}`);
  }
}

export class PoolMirrorings {
  constructor(private readonly conn: CephSession) {}

  /** The mirror mode of a pool spec ("pool" or "pool/ns") and this cluster's site name. */
  async get(spec: string): Promise<PoolMirroring> {
    return { mode: await this.mode(spec), siteName: await this.siteName() };
  }

  async mode(spec: string): Promise<PoolMirrorMode> {
    return this.conn.withIoctx(spec, (io) => io.use('rbd_mirror_mode_get', async (p) => {
      const out: [number] = [0];
      await nativeChecked('pool', 'rbd_mirror_mode_get', spec, rbdMirror.modeGet, p, out);
      return MODE_NAMES[out[0]] ?? 'disabled';
    }));
  }

  /** Set the mode (and the cluster's site name, when given); the state after. */
  async set(spec: string, mode: PoolMirrorMode, siteName?: string): Promise<PoolMirroring> {
    if (siteName !== undefined) {
      await this.conn.withCluster('rbd_mirror_site_name_set', (cluster) =>
        nativeChecked('cluster', 'rbd_mirror_site_name_set', siteName, rbdMirror.siteNameSet, cluster, siteName));
    }
    const value = mode === 'disabled' ? RBD_MIRROR_MODE.DISABLED : mode === 'image' ? RBD_MIRROR_MODE.IMAGE : RBD_MIRROR_MODE.POOL;
    await this.conn.withIoctx(spec, (io) => io.use('rbd_mirror_mode_set', async (p) => {
      const rc = await native<number>('rbd_mirror_mode_set', rbdMirror.modeSet, p, value);
      // librbd refuses to disable while images are mirrored, and a namespace's mode that its pool's does not allow
      if (rc === -E.EINVAL || rc === -E.EBUSY) {
        throw new MirrorModeConflictError(spec, mode, `${spec} cannot be set to mirror mode ${mode} now: disable the mirroring of its `
          + 'images first (to disable it), or mirror the pool before its namespaces');
      }
      check('pool', 'rbd_mirror_mode_set', rc, spec);
    }));
    return this.get(spec);
  }

  siteName(): Promise<string> {
    return this.conn.withCluster('rbd_mirror_site_name_get', async (cluster) => {
      for (let size = 256; size <= 65536; size *= 4) {
        const buf = Buffer.alloc(size);
        const len: [number] = [size];
        const rc = await native<number>('rbd_mirror_site_name_get', rbdMirror.siteNameGet, cluster, buf, len);
        if (rc === -E.ERANGE) continue;
        check('cluster', 'rbd_mirror_site_name_get', rc);
        return cString(buf);
      }
      throw new CephError('cluster', 'rbd_mirror_site_name_get', -E.ERANGE);
    });
  }

  /** A peer bootstrap token for `pool` (creates client.rbd-mirror-peer on first use). A secret: never log it. */
  async bootstrapCreate(pool: string): Promise<string> {
    await this.requireEnabled(pool);
    return this.conn.withIoctx(pool, (io) => io.use('rbd_mirror_peer_bootstrap_create', async (p) => {
      for (let size = 4096; size <= 65536; size *= 4) {
        const buf = Buffer.alloc(size);
        const len: [number] = [size];
        const rc = await native<number>('rbd_mirror_peer_bootstrap_create', rbdMirror.peerBootstrapCreate, p, buf, len);
        if (rc === -E.ERANGE) continue;
        check('pool', 'rbd_mirror_peer_bootstrap_create', rc, pool);
        const token = cString(buf);
        buf.fill(0);
        return token;
      }
      throw new CephError('pool', 'rbd_mirror_peer_bootstrap_create', -E.ERANGE, pool);
    }));
  }

  /**
   * Import a peer's bootstrap token: the peer(s) added (rx-tx also registers this site on the peer's cluster).
   * MirrorTokenInvalidError before anything is changed when the token does not decode; MirroringDisabledError
   * when the pool's mirroring is disabled.
   */
  async bootstrapImport(pool: string, direction: PeerDirection, token: string): Promise<MirrorPeer[]> {
    checkToken(token);
    await this.requireEnabled(pool);
    const before = new Set((await this.peers(pool)).map((p) => p.uuid));
    const dir = direction === 'rx-only' ? RBD_MIRROR_PEER_DIRECTION.RX : RBD_MIRROR_PEER_DIRECTION.RX_TX;
    await this.conn.withIoctx(pool, (io) => io.use('rbd_mirror_peer_bootstrap_import', async (p) => {
      const rc = await native<number>('rbd_mirror_peer_bootstrap_import', rbdMirror.peerBootstrapImport, p, dir, token);
      if (rc === -E.EINVAL) {
        throw new MirrorTokenInvalidError('was refused by librbd (its peer cluster could not be reached with it, or its pool has '
          + 'mirroring disabled there)', new CephError('pool', 'rbd_mirror_peer_bootstrap_import', rc, pool));
      }
      check('pool', 'rbd_mirror_peer_bootstrap_import', rc, pool);
    }));
    const after = await this.peers(pool);
    const added = after.filter((peer) => !before.has(peer.uuid));
    return added.length > 0 ? added : after;
  }

  /** The pool's peer sites, by uuid. */
  peers(pool: string): Promise<MirrorPeer[]> {
    return this.conn.withIoctx(pool, (io) => io.use('rbd_mirror_peer_site_list', async (p) => {
      let capacity = 8;
      for (let attempt = 0; attempt < 6; attempt++) {
        const buf = Buffer.alloc(capacity * MIRROR_SIZES.rbd_mirror_peer_site_t);
        const n: [number] = [capacity];
        const rc = await native<number>('rbd_mirror_peer_site_list', rbdMirror.peerSiteList, p, buf, n);
        if (rc === -E.ERANGE) {
          capacity = Math.max(n[0], capacity * 2);
          continue;
        }
        check('pool', 'rbd_mirror_peer_site_list', rc, pool);
        try {
          const sites = n[0] > 0 ? koffi.decode(buf, RbdMirrorPeerSite, n[0]) as MirrorPeerSiteValue[] : [];
          return sites.map(toPeer).sort((a, b) => a.uuid.localeCompare(b.uuid));
        } finally {
          if (n[0] > 0) rbdMirror.peerSiteListCleanup(buf, n[0]);
        }
      }
      throw new CephError('pool', 'rbd_mirror_peer_site_list', -E.ERANGE, pool);
    }));
  }

  async peer(pool: string, uuid: string): Promise<MirrorPeer> {
    const found = (await this.peers(pool)).find((p) => p.uuid === uuid);
    if (!found) throw new MirrorPeerNotFoundError(pool, uuid);
    return found;
  }

  /** Remove a peer (and the secret librbd keeps for it in the monitors' config-key store). */
  async removePeer(pool: string, uuid: string): Promise<void> {
    await this.peer(pool, uuid);
    await this.conn.withIoctx(pool, (io) => io.use('rbd_mirror_peer_site_remove', async (p) => {
      const rc = await native<number>('rbd_mirror_peer_site_remove', rbdMirror.peerSiteRemove, p, uuid);
      if (rc === -E.ENOENT) throw new MirrorPeerNotFoundError(pool, uuid);
      check('pool', 'rbd_mirror_peer_site_remove', rc, pool);
    }));
  }

  /** Mirrored images by replay state, and the rbd-mirror daemons when the key may see them. */
  async summary(spec: string): Promise<MirrorStatusSummary> {
    const states = await this.conn.withIoctx(spec, (io) => io.use('rbd_mirror_image_status_summary', async (p) => {
      const max = 16;
      const st = Buffer.alloc(max * 4);
      const counts = Buffer.alloc(max * 4);
      const n: [number] = [max];
      await nativeChecked('pool', 'rbd_mirror_image_status_summary', spec, rbdMirror.imageStatusSummary, p, st, counts, n);
      const out: Partial<Record<MirrorStatusState, number>> = {};
      for (let i = 0; i < Math.min(n[0], max); i++) {
        const name = MIRROR_IMAGE_STATUS_STATES[st.readInt32LE(i * 4)] ?? 'unknown';
        out[name] = (out[name] ?? 0) + counts.readInt32LE(i * 4);
      }
      return out;
    }));
    const total = Object.values(states).reduce((a, b) => a + b, 0);
    const imageHealth = (states.error ?? 0) > 0 ? 'error'
      : (states.syncing ?? 0) + (states.starting_replay ?? 0) + (states.stopping_replay ?? 0) + (states.unknown ?? 0) > 0 ? 'warning' : 'ok';
    return { states, total, imageHealth, daemons: await this.daemons() };
  }

  /** The rbd-mirror daemons of the mgr's service map; null when the key may not read it (it needs mgr `allow r`). */
  private async daemons(): Promise<MirrorStatusSummary['daemons']> {
    let out: string;
    try {
      ({ out } = await mgrCommand(this.conn, { prefix: 'service dump', format: 'json' }));
    } catch (e) {
      if (e instanceof CephError && (e.code === 'EACCES' || e.code === 'EPERM')) return null;
      throw e;
    }
    try {
      const map = JSON.parse(out) as { services?: Record<string, { daemons?: Record<string, unknown> }> };
      const daemons = map.services?.['rbd-mirror']?.daemons ?? {};
      return Object.entries(daemons).filter(([k, v]) => k !== 'summary' && typeof v === 'object' && v !== null).map(([gid, v]) => {
        const d = v as { metadata?: Record<string, string>; start_stamp?: string };
        return {
          id: d.metadata?.id ?? gid, instanceId: d.metadata?.instance_id ?? gid, version: d.metadata?.ceph_version_short ?? '',
          startedAt: d.start_stamp ? new Date(d.start_stamp.replace(/\+0000$/, 'Z')).toISOString() : null,
        };
      });
    } catch {
      return null;
    }
  }

  /** MirroringDisabledError when the pool spec's mirror mode is disabled. */
  async requireEnabled(spec: string): Promise<PoolMirrorMode> {
    const mode = await this.mode(spec);
    if (mode === 'disabled') throw new MirroringDisabledError(spec, 'pool');
    return mode;
  }
}

function toPeer(s: MirrorPeerSiteValue): MirrorPeer {
  const seen = Number(s.last_seen);
  return {
    uuid: s.uuid ?? '', siteName: s.site_name ?? '', direction: DIRECTION_NAMES[s.direction] ?? String(s.direction),
    mirrorUuid: s.mirror_uuid ?? '', clientName: s.client_name ?? '', lastSeen: seen > 0 ? new Date(seen * 1000).toISOString() : null,
  };
}

/** The pool of a spec ("pool/ns" → "pool"): peers are per pool. */
export const poolOf = (spec: string): string => splitPoolSpec(spec).pool;
