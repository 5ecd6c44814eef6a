// QoS of an image, a pool or a namespace (src/ceph/qos.ts): what PUT takes and what GET answers.
import { z } from 'zod';
import { QOS_BURST_OF, QOS_NAMES, QOS_OPTIONS, type QosName, type QosUnit } from '../../ceph/qos.js';
import { MAX_SIZE, parseSize } from '../size.js';

const ZERO_MEANS = '0 = no limit';

/** Operations per second (or per burst): a whole number, 0 = no limit. */
const opsSchema = z.number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a whole number of operations') })
  .int('must be a whole number of operations').min(0, 'must be 0 (no limit) or more').max(MAX_SIZE);

/** Bytes per second (or per burst): bytes, a Kubernetes quantity or "100MiB"; 0 = no limit. */
const bytesSchema = z.union([z.number(), z.string()],
  { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a number of bytes or a string like "100Mi", "100M" or "100MiB"') })
  .transform((v, ctx) => {
    if (v === 0 || v === '0') return 0;
    const r = parseSize(v);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    return r.bytes;
  })
  .meta({ examples: ['100Mi', '100MiB', 104857600] });

const secondsSchema = z.number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a whole number of seconds') })
  .int('must be a whole number of seconds').min(1, 'must be at least 1 second (librbd\'s minimum)').max(MAX_SIZE);

function fieldSchema(name: QosName, unit: QosUnit) {
  const option = QOS_OPTIONS[name].option;
  switch (unit) {
    case 'iops': return opsSchema.optional().describe(`${option}: operations ${name.includes('Burst') ? 'allowed in a burst' : 'per second'}; ${ZERO_MEANS}`);
    case 'bytes': return bytesSchema.optional().describe(`${option}: bytes ${name.includes('Burst') ? 'allowed in a burst' : 'per second'} — `
      + `integer bytes, a Kubernetes quantity ("100Mi", "100M" = 10^8) or "100MiB"; ${ZERO_MEANS}`);
    case 'seconds': return secondsSchema.optional().describe(`${option}: how long a burst may last, in seconds (at least 1)`);
  }
}

const bodyShape = Object.fromEntries(QOS_NAMES.map((n) => [n, fieldSchema(n, QOS_OPTIONS[n].unit)])) as unknown as
  Record<QosName, z.ZodOptional<z.ZodType<number, unknown>>>;

/** PUT …/qos: the overrides at this level, replacing the ones it had; {} removes them all. */
export const qosPutBody = z.object(bodyShape).strict().superRefine((body, ctx) => {
  for (const [burst, limit] of Object.entries(QOS_BURST_OF) as [QosName, QosName][]) {
    const b = body[burst];
    const l = body[limit];
    if (b !== undefined && l !== undefined && b !== 0 && l !== 0 && b < l) {
      ctx.addIssue({ code: 'custom', path: [burst], message: `must be 0 or at least ${limit} (${l}): librbd ignores a burst below its limit` });
    }
  }
}).meta({
  id: 'QosSettings',
  description: 'QoS overrides at this level (librbd\'s rbd_qos_* options). A PUT replaces the level\'s overrides: options it does '
    + 'not name are removed (and then come from the next level). Limits apply to all I/O (`iopsLimit`, `bpsLimit`) or to reads '
    + 'and writes apart (`read…`, `write…`); a burst lets I/O run above its limit for `…BurstSeconds`.',
  examples: [{ iopsLimit: 1000, bpsLimit: '100MiB' }],
});

const valueSchema = z.object({
  value: z.number().int().describe('the value in effect (operations, bytes or seconds; 0 = no limit)'),
  source: z.enum(['image', 'pool', 'default']).describe('where it comes from: the image\'s own override, the pool\'s, or the '
    + 'client configuration\'s default (librbd has no per-namespace level: images in a namespace take the pool\'s)'),
});

export const qosSchema = z.object(Object.fromEntries(QOS_NAMES.map((n) => [n, valueSchema.describe(QOS_OPTIONS[n].option)])) as
  Record<QosName, typeof valueSchema>).meta({
  id: 'Qos',
  description: 'Every QoS option in effect at this level, with its source. Units: `…Iops…` operations (per second, or per burst), '
    + '`…Bps…` bytes, `…Seconds` seconds.',
});
