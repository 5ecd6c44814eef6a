// RBD mirroring between two clusters: pool (and namespace) mode, peers, status, image roles, mirror-snapshot
// schedules (src/ceph/mirroring).
import { z } from 'zod';
import { IMAGE_MIRROR_MODES } from '../../ceph/mirroring/image.js';
import { PEER_DIRECTIONS, POOL_MIRROR_MODES } from '../../ceph/mirroring/pool.js';
import { SCHEDULE_INTERVAL_PATTERN, SCHEDULE_START_PATTERN } from '../../ceph/mirroring/schedules.js';
import { MIRROR_IMAGE_STATUS_STATES } from '../../native/rbd-mirror.js';
import { booleanQuery, imageParams, poolParams, scopeParams } from './common.js';

/** Site names: what the rbd CLI shows as "Site Name"; no spaces or control characters. */
export const SITE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The shape of a bootstrap token (base64 of JSON), with a made-up key and a documentation address. */
const EXAMPLE_TOKEN = Buffer.from(JSON.stringify({
  fsid: '00000000-0000-4000-8000-000000000000', client_id: 'rbd-mirror-peer', key: 'AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==',
  mon_host: '[v2:192.0.2.1:3300/0,v1:192.0.2.1:6789/0]',
})).toString('base64');

export const poolMirroringSchema = z.object({
  mode: z.enum(POOL_MIRROR_MODES).describe('disabled; image: images are mirrored one by one (PUT …/images/{image}/mirroring); '
    + 'pool: every journaled image is mirrored'),
  siteName: z.string().describe("this cluster's site name (cluster-wide; its fsid until one is set)"),
}).meta({ id: 'PoolMirroring' });

export const poolMirroringBody = z.object({
  mode: z.enum(POOL_MIRROR_MODES),
  siteName: z.string().regex(SITE_NAME_PATTERN, 'site names are 1–64 characters: letters, digits, ".", "_", "-"').optional()
    .describe("set this cluster's site name too (cluster-wide: every pool's peers see it)"),
}).strict();

export const bootstrapTokenSchema = z.object({
  token: z.string().describe('a secret: it holds a cephx key of the peer user client.rbd-mirror-peer. Hand it to the other site '
    + 'only (POST …/mirroring/peers there); it is never logged'),
  siteName: z.string(),
}).meta({ id: 'MirrorBootstrapToken' });

export const peerSchema = z.object({
  uuid: z.string(),
  siteName: z.string(),
  direction: z.string().describe('rx-only, tx-only or rx-tx'),
  mirrorUuid: z.string().describe("the peer's mirror uuid (empty until its rbd-mirror daemon has registered)"),
  clientName: z.string(),
  lastSeen: z.string().nullable(),
}).meta({ id: 'MirrorPeer' });

export const peerListSchema = z.object({ items: z.array(peerSchema) }).meta({ id: 'MirrorPeerList' });

export const importPeerBody = z.object({
  token: z.string().min(1).max(8192).describe('the token POST …/mirroring/bootstrap-token answered on the other site')
    .meta({ examples: [EXAMPLE_TOKEN] }),
  direction: z.enum(PEER_DIRECTIONS).default('rx-tx')
    .describe('rx-tx: both sites replicate to each other (failover and failback); rx-only: this site only receives'),
}).strict();

export const peerParams = poolParams.extend({ uuid: z.string().min(1).max(128).describe('the peer uuid (an unknown one is 404)') });

const statusState = z.enum(MIRROR_IMAGE_STATUS_STATES);

export const mirrorSummarySchema = z.object({
  states: z.record(z.string(), z.number().int()).describe('mirrored images by replay state (unknown, error, syncing, '
    + 'starting_replay, replaying, stopping_replay, stopped)'),
  total: z.number().int(),
  imageHealth: z.enum(['ok', 'warning', 'error']),
  daemons: z.array(z.object({ id: z.string(), instanceId: z.string(), version: z.string(), startedAt: z.string().nullable() }))
    .nullable().describe("this cluster's rbd-mirror daemons (the mgr's service map); null when the service's key may not read it"),
}).meta({ id: 'MirrorStatusSummary' });

export const imageMirroringSchema = z.object({
  mode: z.enum(IMAGE_MIRROR_MODES),
  state: z.enum(['enabled', 'disabling']),
  primary: z.boolean().describe('this site holds the primary (writable) image'),
  globalId: z.string(),
}).meta({ id: 'ImageMirroring' });

export const siteStatusSchema = z.object({
  siteName: z.string(),
  local: z.boolean().describe("this cluster's own entry"),
  mirrorUuid: z.string(),
  state: statusState,
  up: z.boolean().describe("that site's rbd-mirror daemon is up and reporting"),
  description: z.string(),
  lastUpdate: z.string().nullable(),
  replay: z.record(z.string(), z.unknown()).nullable().describe('the replay figures the daemon reports (bytes_per_second, '
    + 'local_snapshot_timestamp/remote_snapshot_timestamp in snapshot mode, entries_behind_primary in journal mode…)'),
  secondsBehind: z.number().nullable().describe('snapshot mode: primary\'s last mirror snapshot time minus the last one synced'),
  entriesBehind: z.number().nullable().describe('journal mode: journal entries not replayed yet'),
}).meta({ id: 'MirrorSiteStatus' });

export const imageMirrorStatusSchema = imageMirroringSchema.extend({
  name: z.string(),
  sites: z.array(siteStatusSchema),
}).meta({ id: 'ImageMirrorStatus' });

export const imageMirroringBody = z.object({
  enabled: z.boolean(),
  mode: z.enum(IMAGE_MIRROR_MODES).default('snapshot').describe('journal switches on exclusive-lock and journaling as needed'),
  force: z.boolean().default(false).describe('with enabled: false, also disable a non-primary image (its copy here stops following)'),
}).strict();

export const imageMirroringPut = z.object({ mirroring: imageMirroringSchema.nullable(), changed: z.boolean() }).meta({ id: 'ImageMirroringChange' });

export const promoteQuery = z.object({
  force: booleanQuery.default(false).describe('promote even though the peer still has the primary (unplanned failover: the peer '
    + 'is down). Both sites are then primary until one is demoted and resynced'),
}).strict();

export const mirrorSnapshotSchema = z.object({ snapshotId: z.number().int() }).meta({ id: 'MirrorSnapshot' });

export const scheduleSchema = z.object({
  level: z.object({ spec: z.string(), image: z.string().nullable() }),
  interval: z.string(),
  startTime: z.string().nullable(),
}).meta({ id: 'MirrorSnapshotSchedule' });

export const scheduleListSchema = z.object({
  items: z.array(scheduleSchema).describe('schedules set at this level (not those above or below it)'),
  scheduled: z.array(z.object({ image: z.string(), scheduleTime: z.string() }))
    .describe('images at or below this level with a mirror snapshot due, and when (UTC)'),
}).meta({ id: 'MirrorSnapshotScheduleList' });

export const scheduleBody = z.object({
  interval: z.string().regex(SCHEDULE_INTERVAL_PATTERN, 'is a number of minutes, hours or days: "15m", "1h", "1d"').meta({ examples: ['1h'] }),
  startTime: z.string().regex(SCHEDULE_START_PATTERN, 'is a time of day, e.g. "02:30" or "02:30+01:00"').optional()
    .describe('the time of day the intervals count from (UTC unless a zone is given); answered as "02:30:00+00:00"'),
}).strict();

/** A schedule's interval in a path: any one that is not set at the level is 404. */
const intervalParam = z.string().min(1).max(64).describe('the interval of the schedule, as listed ("1h")');
export const scheduleParams = scopeParams.extend({ interval: intervalParam });
export const imageScheduleParams = imageParams.extend({ interval: intervalParam });
export const scheduleDeleteQuery = z.object({ startTime: scheduleBody.shape.startTime }).strict();
