// Schemas shared by every resource: names, sizes, problem documents.
import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';
import { MAX_SIZE, parseSize } from '../size.js';

/** Names accepted when something is created. Existing resources with other names are still reachable. */
export const POOL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const IMAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The one wording of the name rule: `nameRule('image', 128)` for an error detail, `nameRuleText(128)` for a schema. */
export const nameRule = (what: string, max: number): string =>
  `${what} names are 1–${max} characters: letters, digits, ".", "_", "-", starting with a letter or digit`;
export const nameRuleText = (max: number): string => `1–${max} characters: letters, digits, ".", "_", "-"; starts with a letter or digit`;
export const IMAGE_NAME_RULE = nameRule('image', 128);
export const SNAPSHOT_NAME_RULE = nameRule('snapshot', 128);

export const poolNameForCreate = z.string().regex(POOL_NAME_PATTERN, nameRule('pool', 63)).describe(nameRuleText(63));

export const imageNameForCreate = z.string().regex(IMAGE_NAME_PATTERN, IMAGE_NAME_RULE).describe(nameRuleText(128));

/** Any existing name, percent-encoded in the path. */
const existingName = (what: string) => z.string().min(1).max(4096)
  .refine((s) => !s.includes('\0'), `${what} names cannot contain NUL`)
  .describe(`the ${what}'s name, percent-encoded`);

/**
 * The name of an existing pool or namespace, wherever one is given (path, query, body). Never NUL, and never
 * "/": it separates pool, namespace and image in a pool spec ("pool/ns"), so `/pools/rbd%2Fta` would be a
 * second spelling of the scope /pools/rbd/namespaces/ta (and a pool grant `rbd/ta` would match it). Neither
 * Ceph's rbd CLI nor this API can make such a name.
 */
const scopeName = (what: 'pool' | 'namespace', min: number, max: number) => z.string().min(min).max(max)
  .refine((s) => !s.includes('\0'), `${what} names cannot contain NUL`)
  .refine((s) => !s.includes('/'), `${what} names cannot contain "/" (it separates pool, namespace and image)`);
export const existingPoolName = (max = 4096) => scopeName('pool', 1, max);
/** `allowDefault`: '' names the pool's default namespace (in bodies; a path has no empty segment). */
export const existingNamespaceName = ({ allowDefault = false } = {}) => scopeName('namespace', allowDefault ? 0 : 1, 4096);

export const poolParams = z.object({ pool: existingPoolName().describe("the pool's name, percent-encoded") });
/** A route under /pools/{pool} and /pools/{pool}/namespaces/{namespace} (see registerScoped in paths.ts). */
export const namespaceParam = existingNamespaceName().describe('the RBD namespace, percent-encoded');
export const scopeParams = z.object({
  pool: existingPoolName().describe("the pool's name, percent-encoded"),
  // registerScoped makes it required under /namespaces/{namespace} and drops it elsewhere
  namespace: namespaceParam.optional(),
});
export const imageParams = scopeParams.extend({ image: existingName('image') });

/**
 * A size: integer bytes, a Kubernetes quantity ("10Gi", "10G" = 10^10) or a number with a binary unit
 * ("10GiB"). Parsed to integer bytes (src/http/size.ts); the reason a value is refused names no field (the
 * error's path does).
 */
export const sizeSchema = z.union([
  z.number().describe('bytes'),
  z.string().describe('a Kubernetes quantity (Ki, Mi, Gi, Ti, Pi, Ei; k, M, G, T, P, E; 1e9) or a number with KiB, MiB, GiB, TiB, PiB'),
], { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a number of bytes or a string like "10Gi", "10G" or "10GiB"') })
  .meta({ examples: ['10Gi', '10GiB', 1073741824] }).transform((v, ctx) => {
  const r = parseSize(v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.reason });
    return z.NEVER;
  }
  return r.bytes;
}).meta({
  description: `Integer bytes (1 to ${MAX_SIZE}), a Kubernetes quantity — "10Gi" (10 × 2^30), "10G" (10 × 10^9, as in `
    + 'Kubernetes, unlike the rbd CLI), "1.5Gi", "1e9" — or a number with a binary unit: "10GiB", "512MiB". Whole bytes only.',
  examples: ['10Gi', '10GiB', 1073741824],
});

/** A boolean query parameter: true/false or 1/0. */
export const booleanQuery = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
  errno: z.string().optional().describe('the errno name, when Ceph produced the error'),
  instance: z.string().optional(),
  requestId: z.string().optional(),
}).loose().meta({ id: 'Problem', description: 'RFC 9457 problem document (application/problem+json)' });

/** The error responses a route can give, for OpenAPI. */
export function problems(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}

/** objectSize a power of two in range; features consistent (the same rules as create and copy). */
export function layoutRules(b: { objectSize?: number | undefined; features?: readonly string[] | undefined }, ctx: z.RefinementCtx): void {
  if (b.objectSize !== undefined) {
    const o = b.objectSize;
    if (o < 4096 || o > 32 * 1024 * 1024 || (o & (o - 1)) !== 0) {
      ctx.addIssue({ code: 'custom', path: ['objectSize'], message: 'objectSize must be a power of two from 4KiB to 32MiB' });
    }
  }
  const f = new Set(b.features ?? []);
  if (b.features && f.size !== b.features.length) ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must not repeat' });
  if (f.has('object-map') && !f.has('exclusive-lock')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'object-map needs exclusive-lock' });
  if (f.has('fast-diff') && !f.has('object-map')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'fast-diff needs object-map' });
  if (f.has('journaling') && !f.has('exclusive-lock')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'journaling needs exclusive-lock' });
}

/** An operation-level mark (an OpenAPI extension): its 200/201 answers carry an `ETag` (plugins/safe-retries.ts, openapi-document.ts). */
export const ETAG_MARK = 'x-etag';
