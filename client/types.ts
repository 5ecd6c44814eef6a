// The generated types (schema.d.ts) as the client presents them: operations that take `Prefer:
// return=minimal` promise the full image when it is not sent, so the client without `prefer: 'minimal'`
// answers them as `Image` (no `Image | ImageCreated` union), and does not offer that header (the others it does:
// If-None-Match, Idempotency-Key).
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];
type Full<B> = [Extract<B, Schemas['Image']>] extends [never] ? B : Extract<B, Schemas['Image']>;

type FullResponses<R> = {
  [S in keyof R]: R[S] extends { content: { 'application/json': infer B } }
    ? Omit<R[S], 'content'> & { content: { 'application/json': Full<B> } }
    : R[S];
};

/** An operation taking a `prefer` header, answered in full without it. */
type FullOperation<Op> = Op extends { parameters: { header?: { prefer?: string } }; responses: infer R }
  ? Omit<Op, 'parameters' | 'responses'> & {
    parameters: Omit<Op['parameters'], 'header'> & { header?: Omit<NonNullable<Op['parameters']['header']>, 'prefer'> & { prefer?: never } };
    responses: FullResponses<R>;
  }
  : Op;

/** The paths as the default client types them (full answers). */
export type FullPaths = { [P in keyof paths]: { [M in keyof paths[P]]: FullOperation<paths[P][M]> } };
/** The paths as generated (a client made with `prefer: 'minimal'`: a create may answer `ImageCreated`). */
export type MinimalPaths = paths;

type Json200<Op> = Op extends { responses: { 200: { content: { 'application/json': infer B } } } } ? B : never;
type GetOf<Paths, P extends keyof Paths> = Paths[P] extends { get: infer Op } ? Op : never;

/** The paths whose GET takes a `cursor` and answers a page `{ items: […], nextCursor?: string }`. */
export type PagedPath<Paths = FullPaths> = {
  [P in keyof Paths]: GetOf<Paths, P> extends { parameters: { query?: { cursor?: string } } }
    ? (Json200<GetOf<Paths, P>> extends { items: unknown[] } ? P : never)
    : never;
}[keyof Paths];
/** A page of path P. */
export type PageOf<P extends keyof Paths, Paths = FullPaths> = Json200<GetOf<Paths, P>>;
/** An item of a page of path P. */
export type ItemOf<P extends keyof Paths, Paths = FullPaths> = PageOf<P, Paths> extends { items: (infer I)[] } ? I : never;
