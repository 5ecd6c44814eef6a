// Every listing page is bounded in bytes as well as in items: a page stops taking items once its JSON would pass
// PAGE_BYTES, and answers the cursor of its last item as if `limit` had been reached, so the next page starts
// right after it (nothing lost or repeated). With the listing limiter (scan-limit.ts), the memory listings take
// at once is bounded by LISTING_LIMITS.concurrency × a few times PAGE_BYTES, whatever the items' sizes.
import { METADATA_MAX_BYTES } from '../ceph/metadata.js';

/** The most bytes of JSON one listing page answers (the metadata limit per image: one page holds it all). */
export const PAGE_BYTES = METADATA_MAX_BYTES;
/** Room kept for a page's envelope: `{"items":[…],"nextCursor":"…","total":…,"hidden":…}`. */
const ENVELOPE_BYTES = 16 * 1024;

/**
 * How many of `items` (from the first) fit in one page: their JSON, with the commas between them, stays within
 * PAGE_BYTES less the envelope. Always at least one (a single item is far smaller than a page for every listing
 * but metadata, which pages by itself) when there is one.
 */
export function fittingItems(items: readonly unknown[], budget = PAGE_BYTES - ENVELOPE_BYTES): number {
  let bytes = 2; // []
  for (let i = 0; i < items.length; i++) {
    bytes += (i > 0 ? 1 : 0) + Buffer.byteLength(JSON.stringify(items[i]));
    if (bytes > budget) return Math.max(1, i);
  }
  return items.length;
}
