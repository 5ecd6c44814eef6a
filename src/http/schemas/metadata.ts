import { z } from 'zod';
import { METADATA_KEY_PATTERN, METADATA_MAX_BYTES, METADATA_MAX_KEYS, METADATA_VALUE_MAX } from '../../ceph/metadata.js';
import { imageParams } from './common.js';

export const metadataSchema = z.record(z.string(), z.string())
  .meta({ id: 'ImageMetadata', description: 'metadata keys of the image and their values, in key order: all of them unless the '
    + 'answer has a `Link: <…>; rel="next"` header (only for metadata written outside the API beyond its limits)' });

export const metadataListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(METADATA_MAX_KEYS).default(METADATA_MAX_KEYS)
    .describe(`at most this many keys (default ${METADATA_MAX_KEYS}, the most an image may hold)`),
  cursor: z.string().max(8192).optional().describe('from the `Link: <…>; rel="next"` of the previous page'),
}).strict();

export const metadataEntrySchema = z.object({ key: z.string(), value: z.string() }).meta({ id: 'ImageMetadataEntry' });

const keyDescription = 'a metadata key (percent-encoded). `conf_<option>` keys override a librbd option for this image '
  + '(e.g. `conf_rbd_qos_iops_limit`); only options librbd knows are accepted, with values of the option\'s type.';

/** PUT: keys the API accepts for writing. */
export const metadataPutParams = imageParams.extend({
  key: z.string().regex(METADATA_KEY_PATTERN, 'metadata keys are 1–256 printable ASCII characters without spaces')
    .refine((k) => k !== '__proto__', '"__proto__" cannot be a key of the JSON object GET …/metadata answers')
    .refine((k) => k !== '.' && k !== '..', '"." and ".." cannot be addressed in a URL (clients resolve them as dot segments)')
    .describe(keyDescription),
});
/** GET/DELETE: any key that may exist. */
export const metadataKeyParams = imageParams.extend({
  key: z.string().min(1).max(4096).refine((s) => !s.includes('\0'), 'metadata keys cannot contain NUL').describe(keyDescription),
});

export const metadataPutBody = z.object({
  value: z.string().max(METADATA_VALUE_MAX).refine((s) => !s.includes('\0'), 'values cannot contain NUL')
    .describe(`the value, at most ${METADATA_VALUE_MAX} characters; an image holds at most ${METADATA_MAX_KEYS} keys and `
      + `${METADATA_MAX_BYTES} bytes of metadata (as GET …/metadata answers it: the JSON object's UTF-8 bytes)`),
}).strict();

export const configOptionSchema = z.object({
  name: z.string().describe('librbd option name; the metadata key conf_<name> overrides it for this image'),
  value: z.string().describe('the value in effect'),
  source: z.enum(['config', 'pool', 'image']).describe('where the value comes from'),
  type: z.enum(['boolean', 'integer', 'number', 'string']).describe('the form values must take'),
}).meta({ id: 'ImageConfigOption' });

export const configListSchema = z.object({ items: z.array(configOptionSchema) }).meta({ id: 'ImageConfigOptionList' });
