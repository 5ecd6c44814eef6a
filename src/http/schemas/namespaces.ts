import { z } from 'zod';
import { NAMESPACE_NAME_PATTERN } from '../../ceph/namespaces.js';
import { booleanQuery, existingNamespaceName, nameRule, nameRuleText, poolParams } from './common.js';
import { poolRbdStatsSchema } from './pool-stats.js';

export const namespaceNameForCreate = z.string().regex(NAMESPACE_NAME_PATTERN, nameRule('namespace', 63)).describe(nameRuleText(63));

export const namespaceSchema = z.object({
  name: z.string(),
  pool: z.string(),
  rbd: poolRbdStatsSchema.optional().describe('the namespace\'s images, snapshots and trash (GET of one namespace, or stats=rbd)'),
}).meta({ id: 'Namespace' });

export const namespaceListQuery = z.object({
  stats: z.enum(['rbd']).optional().describe('`rbd`: add each namespace\'s image statistics (reads every image header: slower)'),
}).strict();

export const namespaceListSchema = z.object({
  items: z.array(namespaceSchema).describe('named namespaces of the pool, sorted; the default namespace is not listed'),
}).meta({ id: 'NamespaceList' });

/** PUT: the name must be creatable. */
export const namespaceCreateParams = poolParams.extend({ namespace: namespaceNameForCreate });
/** DELETE: any existing name. */
export const namespaceDeleteParams = poolParams.extend({
  namespace: existingNamespaceName(),
});

export const namespaceDeleteQuery = z.object({
  confirm: z.string().max(1024).optional().describe('with force=true: must repeat the namespace name'),
  force: booleanQuery.default(false)
    .describe('remove the namespace with everything in it (images, snapshots, clones, trash) as the namespace.purge task (202)'),
}).strict();
