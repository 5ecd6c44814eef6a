// QoS limits of images and pools: librbd's rbd_qos_* options (Ceph 16.2) as numbers with names, set where
// `rbd config image|pool set` sets them and reported with where each value in effect comes from.
//
// Where librbd keeps them:
//   - image: metadata key `conf_<option>` in the image header (rbd_metadata_set; `rbd config image set`);
//   - pool: metadata key `conf_<option>` in the pool's rbd_info object (rbd_pool_metadata_set; `rbd config pool
//     set`), which also bumps the cluster's rbd_config_pool_override_update_timestamp so open images re-read it;
//   - default: the client's configuration (ceph.conf, the monitors' config database).
// An image's value in effect is its own override, else the pool's, else the default: rbd_config_image_list and
// rbd_config_pool_list say which (RBD_CONFIG_SOURCE_IMAGE/POOL/CONFIG).
//
// Namespaces: librbd has no per-namespace configuration. Both the lists and an image's open read pool overrides
// from the pool's default namespace only (librbd/api/Config.cc sets the I/O context's namespace to ""), so a
// `conf_` key written into a namespace's rbd_info would be ignored. Images in a namespace get the pool's values;
// a namespace's own limits are refused (NamespaceQosUnsupportedError) rather than written where nothing reads them.
import { E } from '../native/errno.js';
import { rbdMetadata } from '../native/rbd-metadata.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, NamespaceQosUnsupportedError } from './errors.js';
import { CONFIG_KEY_PREFIX, listConfig, listPoolConfig, type ConfigOption } from './image-config.js';
import { imageKey, mutationLocks } from './image-lock.js';
import { checkMetadataLimits } from './metadata.js';
import { Namespaces } from './namespaces.js';
import { withOpenImage } from './open-image.js';
import { splitPoolSpec } from './spec.js';

/** What a QoS value counts: operations per second, bytes per second, or seconds (a burst's length). */
export type QosUnit = 'iops' | 'bytes' | 'seconds';

/** The API's names of librbd's QoS options (every rbd_qos_* option of librbd 16.2 but rbd_qos_schedule_tick_min). */
export const QOS_OPTIONS = {
  iopsLimit: { option: 'rbd_qos_iops_limit', unit: 'iops' },
  readIopsLimit: { option: 'rbd_qos_read_iops_limit', unit: 'iops' },
  writeIopsLimit: { option: 'rbd_qos_write_iops_limit', unit: 'iops' },
  bpsLimit: { option: 'rbd_qos_bps_limit', unit: 'bytes' },
  readBpsLimit: { option: 'rbd_qos_read_bps_limit', unit: 'bytes' },
  writeBpsLimit: { option: 'rbd_qos_write_bps_limit', unit: 'bytes' },
  iopsBurst: { option: 'rbd_qos_iops_burst', unit: 'iops' },
  readIopsBurst: { option: 'rbd_qos_read_iops_burst', unit: 'iops' },
  writeIopsBurst: { option: 'rbd_qos_write_iops_burst', unit: 'iops' },
  bpsBurst: { option: 'rbd_qos_bps_burst', unit: 'bytes' },
  readBpsBurst: { option: 'rbd_qos_read_bps_burst', unit: 'bytes' },
  writeBpsBurst: { option: 'rbd_qos_write_bps_burst', unit: 'bytes' },
  iopsBurstSeconds: { option: 'rbd_qos_iops_burst_seconds', unit: 'seconds' },
  readIopsBurstSeconds: { option: 'rbd_qos_read_iops_burst_seconds', unit: 'seconds' },
  writeIopsBurstSeconds: { option: 'rbd_qos_write_iops_burst_seconds', unit: 'seconds' },
  bpsBurstSeconds: { option: 'rbd_qos_bps_burst_seconds', unit: 'seconds' },
  readBpsBurstSeconds: { option: 'rbd_qos_read_bps_burst_seconds', unit: 'seconds' },
  writeBpsBurstSeconds: { option: 'rbd_qos_write_bps_burst_seconds', unit: 'seconds' },
} as const satisfies Record<string, { option: string; unit: QosUnit }>;

export type QosName = keyof typeof QOS_OPTIONS;
export const QOS_NAMES = Object.keys(QOS_OPTIONS) as QosName[];
/** Each burst and the limit it must not be below (librbd ignores a burst smaller than its limit). */
export const QOS_BURST_OF: Partial<Record<QosName, QosName>> = {
  iopsBurst: 'iopsLimit', readIopsBurst: 'readIopsLimit', writeIopsBurst: 'writeIopsLimit',
  bpsBurst: 'bpsLimit', readBpsBurst: 'readBpsLimit', writeBpsBurst: 'writeBpsLimit',
};

/** Overrides to set: whole numbers (0 = no limit for limits and bursts; seconds are at least 1). */
export type QosSettings = Partial<Record<QosName, number>>;
/** Where a value in effect comes from. */
export type QosSource = 'image' | 'pool' | 'default';
export interface QosValue { value: number; source: QosSource }
export type QosReport = Record<QosName, QosValue>;

const NAME_OF = new Map<string, QosName>(QOS_NAMES.map((n) => [QOS_OPTIONS[n].option, n]));
const SOURCE: Record<ConfigOption['source'], QosSource> = { image: 'image', pool: 'pool', config: 'default' };

/** The QoS values of a librbd option list. */
export function qosReport(options: readonly ConfigOption[]): QosReport {
  const out: Partial<QosReport> = {};
  for (const o of options) {
    const name = NAME_OF.get(o.name);
    if (name) out[name] = { value: Number(o.value), source: SOURCE[o.source] };
  }
  for (const n of QOS_NAMES) out[n] ??= { value: 0, source: 'default' };
  return out as QosReport;
}

/** The names whose value comes from `source` (the overrides at that level). */
const overridden = (options: readonly ConfigOption[], source: ConfigOption['source']): QosName[] =>
  options.flatMap((o) => { const n = NAME_OF.get(o.name); return n && o.source === source ? [n] : []; });

export class Qos {
  constructor(private readonly conn: CephSession) {}

  /** An image's QoS in effect (opened read-only). */
  image(spec: string, image: string): Promise<QosReport> {
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true },
      async (img) => qosReport(await listConfig(img, `${spec}/${image}`))));
  }

  /**
   * Replace an image's QoS overrides with `settings` (overrides not named are removed; {} removes all), under
   * the image's mutation lock; the QoS in effect afterwards. librbd applies them to open images at once.
   */
  setImage(spec: string, image: string, settings: QosSettings): Promise<QosReport> {
    const target = `${spec}/${image}`;
    return mutationLocks(this.conn).run([imageKey(spec, image)], () => this.conn.withIoctx(spec,
      (io) => withOpenImage(io, spec, image, {}, async (img) => {
        const before = await listConfig(img, target);
        const entries = Object.entries(settings).map(([name, value]) => [CONFIG_KEY_PREFIX + QOS_OPTIONS[name as QosName].option, String(value)]);
        // every key within the image's metadata limits before the first is written (MetadataLimitError: nothing changed)
        for (const [key, value] of entries) await checkMetadataLimits(img, target, key!, value!);
        for (const [key, value] of entries) {
          await nativeChecked('image', 'rbd_metadata_set', `${target} key ${key}`, rbdMetadata.set, img, key, value);
        }
        for (const name of overridden(before, 'image')) {
          if (name in settings) continue;
          await removeImageKey(img, target, CONFIG_KEY_PREFIX + QOS_OPTIONS[name].option);
        }
        return qosReport(await listConfig(img, target));
      })));
  }

  /** The QoS in effect for images of a pool (or of a namespace: the pool's, see the header). */
  async pool(spec: string): Promise<QosReport> {
    await this.namespaceMustExist(spec);
    return this.conn.withIoctx(spec, (io) => io.use('rbd_config_pool_list', async (p) => qosReport(await listPoolConfig(p, spec))));
  }

  /**
   * Replace a pool's QoS overrides with `settings` ({} removes all); the QoS in effect afterwards.
   * NamespaceQosUnsupportedError for a namespace (librbd reads no per-namespace configuration).
   * Two replicas replacing a pool's QoS at once may interleave key by key (each key is set atomically).
   */
  async setPool(spec: string, settings: QosSettings): Promise<QosReport> {
    const { pool, namespace } = splitPoolSpec(spec);
    if (namespace) {
      await this.namespaceMustExist(spec);
      throw new NamespaceQosUnsupportedError(pool, namespace);
    }
    return this.conn.withIoctx(pool, (io) => io.use('rbd_pool_metadata_set', async (p) => {
      const before = await listPoolConfig(p, pool);
      for (const [name, value] of Object.entries(settings) as [QosName, number][]) {
        const key = CONFIG_KEY_PREFIX + QOS_OPTIONS[name].option;
        await nativeChecked('pool', 'rbd_pool_metadata_set', `${pool} key ${key}`, rbdMetadata.poolSet, p, key, String(value));
      }
      for (const name of overridden(before, 'pool')) {
        if (name in settings) continue;
        const key = CONFIG_KEY_PREFIX + QOS_OPTIONS[name].option;
        const rc = await native<number>('rbd_pool_metadata_remove', rbdMetadata.poolRemove, p, key);
        if (rc < 0 && rc !== -E.ENOENT) throw new CephError('pool', 'rbd_pool_metadata_remove', rc, `${pool} key ${key}`);
      }
      return qosReport(await listPoolConfig(p, pool));
    }));
  }

  /** ENOENT (subject namespace) when `spec` names a namespace that does not exist. */
  private async namespaceMustExist(spec: string): Promise<void> {
    const { pool, namespace } = splitPoolSpec(spec);
    if (namespace && !(await new Namespaces(this.conn).exists(pool, namespace))) {
      throw new CephError('namespace', 'rbd_namespace_exists', -E.ENOENT, spec);
    }
  }
}

/** rbd_metadata_remove, a missing key being no error (a concurrent writer outside the API removed it). */
async function removeImageKey(img: Pointer, target: string, key: string): Promise<void> {
  const rc = await native<number>('rbd_metadata_remove', rbdMetadata.remove, img, key);
  if (rc < 0 && rc !== -E.ENOENT) throw new CephError('image', 'rbd_metadata_remove', rc, `${target} key ${key}`);
}
