// What this service runs with and talks to: the client libraries' versions (rados_version, rbd_version: local,
// no I/O), the optional features their librbd has (src/native/rbd-optional.ts probes the functions at load), and
// the cluster's daemon versions (mon command `versions`, which `profile rbd` keys may run).
// One build of the service supports librbd 1.16 (Ceph 16 Pacific) to 1.20 (Ceph 20 Tentacle); a feature whose
// functions the loaded librbd lacks is refused with FeatureUnavailableError (HTTP 501 FEATURE_NOT_AVAILABLE).
import { radosCluster } from '../native/rados-cluster.js';
import { rbdPool } from '../native/rbd-pool.js';
import { rbdOptional, type OptionalFunction } from '../native/rbd-optional.js';
import type { CephSession } from './connection.js';

/** Ceph releases by librbd's minor version (rbd/librbd.h LIBRBD_VER_MINOR of each release). */
const RELEASE_BY_LIBRBD_MINOR: Record<number, string> = {
  16: 'pacific', 17: 'quincy', 18: 'reef', 19: 'squid', 20: 'tentacle',
};

/** The optional features: what each is for, and the librbd functions it needs. */
export const OPTIONAL_FEATURES = {
  diffFromSnapshotId: {
    description: 'changed extents since a snapshot given by id, including non-user snapshots (rbd_diff_iterate3; librbd 18.2+)',
    functions: ['diffIterate3'],
  },
  layeredEncryption: {
    description: 'opening clones whose parent is encrypted with another passphrase (rbd_encryption_load2; librbd 18.2+)',
    functions: ['encryptionLoad2'],
  },
  cloneFromSnapshotId: {
    description: 'cloning from a snapshot given by id, e.g. one of a group snapshot (rbd_clone4; librbd 20.2)',
    functions: ['clone4'],
  },
  trashedSnapshotOrigin: {
    description: 'the original namespace and name of a snapshot in the snapshot trash (rbd_snap_get_trash_namespace2; librbd 20.2)',
    functions: ['snapGetTrashNamespace2'],
  },
  groupSnapshotInfo: {
    description: "a group snapshot's details by name (rbd_group_snap_get_info; librbd 20.2)",
    functions: ['groupSnapGetInfo'],
  },
  mirrorRemoteNamespace: {
    description: 'mirroring a namespace to a namespace of another name on the peer (rbd_mirror_remote_namespace_get/set; librbd 20.2)',
    functions: ['mirrorRemoteNamespaceGet', 'mirrorRemoteNamespaceSet'],
  },
} as const satisfies Record<string, { description: string; functions: readonly OptionalFunction[] }>;

export type OptionalFeature = keyof typeof OPTIONAL_FEATURES;
export const OPTIONAL_FEATURE_NAMES = Object.keys(OPTIONAL_FEATURES) as OptionalFeature[];

/** Whether the loaded librbd has every function `feature` needs. */
export function hasFeature(feature: OptionalFeature): boolean {
  return OPTIONAL_FEATURES[feature].functions.every((f) => rbdOptional[f] !== undefined);
}

/** Every optional feature and whether it is available here. */
export function optionalFeatures(): Record<OptionalFeature, boolean> {
  return Object.fromEntries(OPTIONAL_FEATURE_NAMES.map((f) => [f, hasFeature(f)])) as Record<OptionalFeature, boolean>;
}

/** A feature the loaded librbd lacks (the service was given older Ceph client libraries). */
export class FeatureUnavailableError extends Error {
  override readonly name = 'FeatureUnavailableError';
  constructor(readonly feature: OptionalFeature, readonly librbd: string) {
    const needs = OPTIONAL_FEATURES[feature];
    super(`${feature} needs ${needs.description.replace(/^.*\((.*)\)$/, '$1')}; this service runs librbd ${librbd}`);
  }
}

/** Throws FeatureUnavailableError unless the loaded librbd has `feature`: call it before using its functions. */
export function requireFeature(feature: OptionalFeature): void {
  if (!hasFeature(feature)) throw new FeatureUnavailableError(feature, clientLibraries().librbd.version);
}

export interface LibraryVersion {
  /** "major.minor.extra" as the library reports it */
  version: string;
}

export interface ClientLibraries {
  librados: LibraryVersion;
  librbd: LibraryVersion & { release: string | undefined };
}

function versionOf(fn: (a: number[], b: number[], c: number[]) => unknown): string {
  const a = [0], b = [0], c = [0];
  fn(a, b, c); // local memory only: safe on the main thread
  return `${a[0]}.${b[0]}.${c[0]}`;
}

/** rados_version and rbd_version of the loaded libraries, and the Ceph release librbd's version belongs to. */
export function clientLibraries(): ClientLibraries {
  const librbd = versionOf((a, b, c) => rbdPool.version(a, b, c));
  return {
    librados: { version: versionOf((a, b, c) => radosCluster.version(a, b, c)) },
    librbd: { version: librbd, release: RELEASE_BY_LIBRBD_MINOR[Number(librbd.split('.')[1])] },
  };
}

export interface DaemonVersion {
  /** e.g. "20.2.4" */
  version: string;
  /** e.g. "tentacle"; undefined when the version text names none */
  release: string | undefined;
  /** how many daemons of this kind run it */
  daemons: number;
  /** what the daemon reported, e.g. "ceph version 20.2.4 (…) tentacle (stable)" */
  text: string;
}

export type DaemonKind = 'mon' | 'mgr' | 'osd' | 'mds' | 'overall';
export const DAEMON_KINDS: readonly DaemonKind[] = ['mon', 'mgr', 'osd', 'mds', 'overall'];

export interface ClusterVersions {
  fsid: string;
  versions: Record<DaemonKind, DaemonVersion[]>;
}

/** "ceph version 16.2.15 (618f…) pacific (stable)" → its parts. */
export function parseCephVersion(text: string, daemons: number): DaemonVersion {
  const m = /ceph version (\S+)(?: \([0-9a-f]+\))?(?: ([a-z]+))?/.exec(text);
  return { version: m?.[1] ?? text, release: m?.[2], daemons, text };
}

/** The cluster's fsid and the versions its daemons run (mon commands `fsid` and `versions`, in parallel). */
export async function clusterVersions(session: CephSession): Promise<ClusterVersions> {
  const [fsidOut, versionsOut] = await Promise.all([
    session.monCommand({ prefix: 'fsid', format: 'json' }),
    session.monCommand({ prefix: 'versions', format: 'json' }),
  ]);
  const parsed = JSON.parse(versionsOut.out) as Partial<Record<string, Record<string, number>>>;
  const versions = Object.fromEntries(DAEMON_KINDS.map((kind) => [kind,
    Object.entries(parsed[kind] ?? {}).map(([text, n]) => parseCephVersion(text, n))])) as Record<DaemonKind, DaemonVersion[]>;
  return { fsid: (JSON.parse(fsidOut.out) as { fsid: string }).fsid, versions };
}
