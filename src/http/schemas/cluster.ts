import { z } from 'zod';
import { DAEMON_KINDS, OPTIONAL_FEATURES, OPTIONAL_FEATURE_NAMES } from '../../ceph/cluster-info.js';

const daemonVersionSchema = z.object({
  version: z.string().describe('e.g. "20.2.4"'),
  release: z.string().optional().describe('e.g. "tentacle"'),
  daemons: z.number().int().describe('how many daemons of this kind run this version'),
  text: z.string().describe('as the daemons report it: "ceph version 20.2.4 (…) tentacle (stable)"'),
}).meta({ id: 'DaemonVersion' });

const featureSchema = z.object({
  available: z.boolean().describe("the service's librbd has every function this needs; otherwise routes that need it answer 501 FEATURE_NOT_AVAILABLE"),
  description: z.string(),
});

export const clusterInfoSchema = z.object({
  service: z.object({
    version: z.string().describe("this service's version"),
    node: z.string().describe('the Node.js version it runs on'),
  }),
  client: z.object({
    librados: z.object({ version: z.string().describe('rados_version(), e.g. "3.0.0" (the API version, not Ceph\'s)') }),
    librbd: z.object({
      version: z.string().describe('rbd_version(), e.g. "1.20.0"'),
      release: z.string().optional().describe('the Ceph release this librbd comes from, e.g. "tentacle" (librbd 1.20)'),
    }),
  }).describe('the Ceph client libraries loaded by this service'),
  cluster: z.object({
    fsid: z.string(),
    versions: z.object(Object.fromEntries(DAEMON_KINDS.map((k) => [k, z.array(daemonVersionSchema)])) as
      Record<(typeof DAEMON_KINDS)[number], z.ZodArray<typeof daemonVersionSchema>>)
      .describe('what the daemons run (mon command `versions`), per daemon kind and overall'),
  }),
  features: z.object(Object.fromEntries(OPTIONAL_FEATURE_NAMES.map((f) => [f, featureSchema.describe(OPTIONAL_FEATURES[f].description)])) as
    Record<keyof typeof OPTIONAL_FEATURES, typeof featureSchema>)
    .describe('optional features that need a newer librbd than 1.16 (Ceph 16); probed when the service starts'),
}).meta({ id: 'ClusterInfo' });

export const clusterQuery = z.object({}).strict();
