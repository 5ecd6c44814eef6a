// Cursor pages: every list route answers `{ items, nextCursor? }` (null or absent on the last page) and takes
// `cursor` (the previous page's `nextCursor`) and `limit`. `pages` asks for page after page until there is no
// `nextCursor`; `items` yields their items one by one. The first request's parameters (path, query without
// the cursor, headers, signal) are sent with every page. An error answer is thrown as RbdApiError.
import { RbdApiError } from './errors.js';
import type { components } from './schema.js';

type Problem = components['schemas']['Problem'];
type LooseGet = (path: string, init: unknown) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
interface LooseInit { params?: { query?: Record<string, unknown> } & Record<string, unknown> }

/** Every page of `path`, the first one included, as the service sends them. */
export async function* pages<Page extends { items: unknown[]; nextCursor?: string | null }>(get: LooseGet, path: string, init?: unknown): AsyncGenerator<Page, void, undefined> {
  const first = (init ?? {}) as LooseInit & Record<string, unknown>;
  let cursor: string | undefined;
  do {
    const query = { ...(first.params?.query ?? {}), ...(cursor !== undefined ? { cursor } : {}) };
    const { data, error, response } = await get(path, { ...first, params: { ...(first.params ?? {}), query } });
    if (data === undefined) {
      const problem = error !== null && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string' ? (error as Problem) : undefined;
      throw new RbdApiError(response.status, problem, `GET ${path}`);
    }
    const page = data as Page;
    yield page;
    // the last page has no nextCursor (or null, as the image list says it)
    cursor = typeof page.nextCursor === 'string' && page.nextCursor !== '' ? page.nextCursor : undefined;
  } while (cursor !== undefined);
}
