// One image's mirroring: enable (journal or snapshot mode) and disable, its role (promote, demote, resync), its
// global status as the rbd-mirror daemons of every site report it, and mirror snapshots. Every change runs
// under the image's mutation lock (docs/concurrency.md). Roles are checked before librbd is asked, so a promote
// of a primary or a demote of a secondary is a typed refusal, not librbd's bare EINVAL.
import { koffi } from '../../native/library.js';
import {
  MIRROR_IMAGE_STATUS_STATES, MIRROR_SIZES, RBD_MIRROR_IMAGE_MODE, RBD_MIRROR_IMAGE_STATE, rbdMirror, RbdMirrorImageGlobalStatus,
  RbdMirrorImageInfo, RbdMirrorImageSiteStatus, type MirrorGlobalStatusValue, type MirrorImageInfoValue, type MirrorSiteStatusValue,
} from '../../native/rbd-mirror.js';
import { rbdImage } from '../../native/rbd-image.js';
import type { Pointer } from '../../native/types.js';
import { native, nativeChecked } from '../call.js';
import type { CephSession } from '../connection.js';
import { CephError, check, MirroringDisabledError, MirrorModeConflictError, MirrorNoPeersError, MirrorRoleError } from '../errors.js';
import { FEATURE_BITS } from '../features.js';
import { imageKey, mutationLocks } from '../image-lock.js';
import { withOpenImage } from '../open-image.js';
import { PoolMirrorings, poolOf, type MirrorStatusState } from './pool.js';

export const IMAGE_MIRROR_MODES = ['journal', 'snapshot'] as const;
export type ImageMirrorMode = (typeof IMAGE_MIRROR_MODES)[number];

/** What an image representation says about its mirroring (null when the image is not mirrored). */
export interface ImageMirroring {
  mode: ImageMirrorMode;
  /** enabled, or disabling (a disable in progress) */
  state: 'enabled' | 'disabling';
  /** this site holds the primary (writable) image */
  primary: boolean;
  /** the image's id across sites */
  globalId: string;
}

export interface MirrorSiteStatus {
  /** the site's name ("" for this site when its name is unknown) */
  siteName: string;
  /** true for this cluster's own entry */
  local: boolean;
  /** the peer's mirror uuid ("" for this site) */
  mirrorUuid: string;
  state: MirrorStatusState;
  /** whether that site's rbd-mirror daemon is up and reporting */
  up: boolean;
  description: string;
  lastUpdate: string | null;
  /** the replay figures the daemon puts in the description (JSON after "replaying, "), when it does */
  replay: Record<string, unknown> | null;
  /** snapshot mode: seconds between the last mirror snapshot on the primary and the last one synced here */
  secondsBehind: number | null;
  /** journal mode: journal entries not replayed yet */
  entriesBehind: number | null;
}

export interface ImageMirrorStatus extends ImageMirroring {
  name: string;
  sites: MirrorSiteStatus[];
}

const MODE_NAMES: Record<number, ImageMirrorMode> = { 0: 'journal', 1: 'snapshot' };

/** Mirroring of an open image, or null when it is not mirrored. */
export async function imageMirroring(img: Pointer, target: string): Promise<ImageMirroring | null> {
  const buf = Buffer.alloc(MIRROR_SIZES.rbd_mirror_image_info_t);
  await nativeChecked('image', 'rbd_mirror_image_get_info', target, rbdMirror.imageGetInfo, img, buf, buf.length);
  let info: MirrorImageInfoValue;
  try {
    info = koffi.decode(buf, RbdMirrorImageInfo) as MirrorImageInfoValue;
  } finally {
    rbdMirror.imageGetInfoCleanup(buf);
  }
  if (info.state === RBD_MIRROR_IMAGE_STATE.DISABLED) return null;
  const mode: [number] = [0];
  await nativeChecked('image', 'rbd_mirror_image_get_mode', target, rbdMirror.imageGetMode, img, mode);
  return {
    mode: MODE_NAMES[mode[0]] ?? 'journal',
    state: info.state === RBD_MIRROR_IMAGE_STATE.ENABLED ? 'enabled' : 'disabling',
    primary: info.primary,
    globalId: info.global_id ?? '',
  };
}

export class ImageMirrorings {
  private readonly pools: PoolMirrorings;

  constructor(private readonly conn: CephSession) {
    this.pools = new PoolMirrorings(conn);
  }

  /** The image's mirroring (null when off). */
  get(spec: string, image: string): Promise<ImageMirroring | null> {
    return this.read(spec, image, (img, target) => imageMirroring(img, target));
  }

  /**
   * Mirror the image in `mode`. Journal mode switches on exclusive-lock and journaling first when they are off
   * (in that order: journaling needs the lock). In a pool of mode `pool` a journaled image is mirrored by the
   * pool itself. Enabling an image already mirrored in that mode changes nothing (`changed` false).
   */
  async enable(spec: string, image: string, mode: ImageMirrorMode): Promise<{ mirroring: ImageMirroring; changed: boolean }> {
    const poolMode = await this.pools.requireEnabled(spec);
    const target = `${spec}/${image}`;
    if (poolMode === 'pool' && mode === 'snapshot') {
      throw new MirrorModeConflictError(target, poolMode, `the mirror mode of ${spec} is "pool", which mirrors journaled images only: `
        + 'snapshot mode needs the "image" mode');
    }
    return this.change(spec, image, async (img) => {
      const now = await imageMirroring(img, target);
      if (now) {
        if (now.mode !== mode) {
          throw new MirrorModeConflictError(target, poolMode, `${target} is already mirrored in ${now.mode} mode: disable its mirroring first`);
        }
        return { mirroring: now, changed: false };
      }
      if (mode === 'journal') {
        for (const feature of ['exclusive-lock', 'journaling'] as const) {
          const features: [bigint] = [0n];
          await nativeChecked('image', 'rbd_get_features', target, rbdImage.getFeatures, img, features);
          if ((BigInt(features[0]) & FEATURE_BITS[feature]) !== 0n) continue;
          await nativeChecked('image', 'rbd_update_features', `${target} (enable ${feature})`, rbdImage.updateFeatures, img, FEATURE_BITS[feature], 1);
        }
      }
      // pool mode mirrors a journaled image as soon as journaling is on
      if (!(poolMode === 'pool' && await imageMirroring(img, target))) {
        const value = mode === 'journal' ? RBD_MIRROR_IMAGE_MODE.JOURNAL : RBD_MIRROR_IMAGE_MODE.SNAPSHOT;
        await nativeChecked('image', 'rbd_mirror_image_enable2', target, rbdMirror.imageEnable2, img, value);
      }
      const after = await imageMirroring(img, target);
      if (!after) throw new CephError('image', 'rbd_mirror_image_get_info', -22, `${target}: mirroring did not turn on`);
      return { mirroring: after, changed: true };
    });
  }

  /** Stop mirroring the image (`force`: also a non-primary one, which leaves this copy out of step). False when it was off. */
  disable(spec: string, image: string, force: boolean): Promise<boolean> {
    const target = `${spec}/${image}`;
    return this.change(spec, image, async (img) => {
      const now = await imageMirroring(img, target);
      if (!now) return false;
      if (!now.primary && !force) throw new MirrorRoleError(target, 'disable', false);
      await nativeChecked('image', 'rbd_mirror_image_disable', target, rbdMirror.imageDisable, img, force);
      return true;
    });
  }

  /** Make this site's image primary. Without `force`, the peer must have demoted it (and the demotion be replayed here). */
  promote(spec: string, image: string, force: boolean): Promise<ImageMirroring> {
    const target = `${spec}/${image}`;
    return this.change(spec, image, async (img) => {
      const now = await this.mirrored(img, target);
      if (now.primary) throw new MirrorRoleError(target, 'promote', true);
      const rc = await native<number>('rbd_mirror_image_promote', rbdMirror.imagePromote, img, force);
      if (rc === -16 /* EBUSY */) throw new MirrorRoleError(target, 'promote', false, true);
      check('image', 'rbd_mirror_image_promote', rc, target);
      return (await imageMirroring(img, target))!;
    });
  }

  /** Make this site's primary image non-primary (read-only here; the peer may then promote its copy). */
  demote(spec: string, image: string): Promise<ImageMirroring> {
    const target = `${spec}/${image}`;
    return this.change(spec, image, async (img) => {
      const now = await this.mirrored(img, target);
      if (!now.primary) throw new MirrorRoleError(target, 'demote', false);
      await nativeChecked('image', 'rbd_mirror_image_demote', target, rbdMirror.imageDemote, img);
      return (await imageMirroring(img, target))!;
    });
  }

  /** Flag a non-primary image for a full resync from the primary (the rbd-mirror daemon deletes and re-copies it). */
  resync(spec: string, image: string): Promise<ImageMirroring> {
    const target = `${spec}/${image}`;
    return this.change(spec, image, async (img) => {
      const now = await this.mirrored(img, target);
      if (now.primary) throw new MirrorRoleError(target, 'resync', true);
      await nativeChecked('image', 'rbd_mirror_image_resync', target, rbdMirror.imageResync, img);
      return now;
    });
  }

  /** Take a mirror snapshot of a primary snapshot-mode image now; its snapshot id. */
  createSnapshot(spec: string, image: string): Promise<{ snapshotId: number }> {
    const target = `${spec}/${image}`;
    return this.change(spec, image, async (img) => {
      const now = await this.mirrored(img, target);
      if (now.mode !== 'snapshot') {
        throw new MirrorModeConflictError(target, 'image', `${target} is mirrored in journal mode: mirror snapshots are for snapshot mode`);
      }
      if (!now.primary) throw new MirrorRoleError(target, 'snapshot', false);
      if ((await this.pools.peers(poolOf(spec))).length === 0) throw new MirrorNoPeersError(poolOf(spec));
      const id: [bigint] = [0n];
      await nativeChecked('image', 'rbd_mirror_image_create_snapshot', target, rbdMirror.imageCreateSnapshot, img, id);
      return { snapshotId: Number(id[0]) };
    });
  }

  /** The global status: every site's replay state as its rbd-mirror daemon reports it. MirroringDisabledError when off. */
  async status(spec: string, image: string): Promise<ImageMirrorStatus> {
    const [peers, siteName] = await Promise.all([this.pools.peers(poolOf(spec)), this.pools.siteName()]);
    return this.read(spec, image, async (img, target) => {
      const mirroring = await this.mirrored(img, target);
      const buf = Buffer.alloc(MIRROR_SIZES.rbd_mirror_image_global_status_t);
      await nativeChecked('image', 'rbd_mirror_image_get_global_status', target, rbdMirror.imageGetGlobalStatus, img, buf, buf.length);
      let name: string;
      let sites: MirrorSiteStatusValue[];
      try {
        const g = koffi.decode(buf, RbdMirrorImageGlobalStatus) as MirrorGlobalStatusValue;
        name = g.name ?? image;
        sites = g.site_statuses_count > 0 && g.site_statuses
          ? koffi.decode(g.site_statuses, RbdMirrorImageSiteStatus, g.site_statuses_count) as MirrorSiteStatusValue[] : [];
      } finally {
        rbdMirror.imageGlobalStatusCleanup(buf);
      }
      return {
        ...mirroring,
        name,
        sites: sites.map((s) => siteStatus(s, s.mirror_uuid ? peers.find((p) => p.mirrorUuid === s.mirror_uuid)?.siteName ?? '' : siteName)),
      };
    });
  }

  /**
   * The mirroring of each of `names` (opened read-only, at most `concurrency` at a time): for listings that
   * filter by it. An image removed meanwhile is left out.
   */
  async ofMany(spec: string, names: readonly string[], concurrency: number): Promise<Map<string, ImageMirroring | null>> {
    const out = new Map<string, ImageMirroring | null>();
    let next = 0;
    await this.conn.withIoctx(spec, async (io) => {
      const worker = async (): Promise<void> => {
        while (next < names.length) {
          const name = names[next++]!;
          try {
            out.set(name, await withOpenImage(io, spec, name, { readOnly: true }, (img) => imageMirroring(img, `${spec}/${name}`)));
          } catch (e) {
            if (!(e instanceof CephError && e.code === 'ENOENT')) throw e;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, names.length)) }, worker));
    });
    return out;
  }

  private async mirrored(img: Pointer, target: string): Promise<ImageMirroring> {
    const now = await imageMirroring(img, target);
    if (!now) throw new MirroringDisabledError(target, 'image');
    return now;
  }

  private read<T>(spec: string, image: string, fn: (img: Pointer, target: string) => Promise<T>): Promise<T> {
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, (img) => fn(img, `${spec}/${image}`)));
  }

  private change<T>(spec: string, image: string, fn: (img: Pointer) => Promise<T>): Promise<T> {
    return mutationLocks(this.conn).run([imageKey(spec, image)], () =>
      this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, fn)));
  }
}

function siteStatus(s: MirrorSiteStatusValue, siteName: string): MirrorSiteStatus {
  const description = s.description ?? '';
  let replay: Record<string, unknown> | null = null;
  const brace = description.indexOf('{');
  if (brace >= 0) {
    try {
      const parsed = JSON.parse(description.slice(brace)) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) replay = parsed as Record<string, unknown>;
    } catch {
      replay = null;
    }
  }
  const num = (k: string): number | null => (replay && typeof replay[k] === 'number' ? replay[k] as number : null);
  const local = num('local_snapshot_timestamp');
  const remote = num('remote_snapshot_timestamp');
  const updated = Number(s.last_update);
  return {
    siteName,
    local: !s.mirror_uuid,
    mirrorUuid: s.mirror_uuid ?? '',
    state: MIRROR_IMAGE_STATUS_STATES[s.state] ?? 'unknown',
    up: s.up,
    description,
    lastUpdate: updated > 0 ? new Date(updated * 1000).toISOString() : null,
    replay,
    secondsBehind: local !== null && remote !== null ? Math.max(0, remote - local) : null,
    entriesBehind: num('entries_behind_primary'),
  };
}
