// Digests of message content (RFC 9530): `Content-Digest` of an upload, verified before the image becomes
// visible (routes/content/import.ts), and `Want-Content-Digest` of a download, answered with the digest of the
// bytes sent as a trailer (routes/content/export.ts: the digest is known only once the last byte went out).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { nodeHashName, type DigestAlgorithm, type ExpectedDigest } from '../ceph/content/import.js';
import { invalidField } from './errors.js';

/** `Content-Digest: sha-256=:BASE64:, sha-512=:…:` (RFC 9530, a structured-field dictionary): the strongest one we know. */
export function parseContentDigest(header: string): ExpectedDigest {
  const found = new Map<string, Buffer>();
  for (const member of header.split(',')) {
    const m = /^\s*([a-z0-9*_.-]+)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (!m) throw invalidField('headers', 'content-digest', 'expected `sha-256=:<base64>:` (RFC 9530)');
    found.set(m[1]!, Buffer.from(m[2]!, 'base64'));
  }
  const sha512 = found.get('sha-512');
  if (sha512) {
    if (sha512.length !== 64) throw invalidField('headers', 'content-digest', 'a sha-512 digest has 64 bytes');
    return { algorithm: 'sha-512', value: sha512 };
  }
  const sha256 = found.get('sha-256');
  if (sha256) {
    if (sha256.length !== 32) throw invalidField('headers', 'content-digest', 'a sha-256 digest has 32 bytes');
    return { algorithm: 'sha-256', value: sha256 };
  }
  throw invalidField('headers', 'content-digest', 'no sha-256 or sha-512 digest (the algorithms this service verifies)');
}

/**
 * The algorithm a `Want-Content-Digest` header (RFC 9530 §4: `sha-256=1, sha-512=3`, preferences 0–10, 0 =
 * not wanted) asks for among those this service computes: the most preferred, sha-256 on a tie. Undefined when
 * none is wanted — the header is a preference, so members this service does not know, or does not parse, are
 * passed over, never refused.
 */
export function wantedDigest(header: string | string[] | undefined): DigestAlgorithm | undefined {
  if (header === undefined) return undefined;
  let best: { alg: DigestAlgorithm; weight: number } | undefined;
  for (const member of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const m = /^\s*([a-z0-9*_.-]+)\s*(?:=\s*(\d{1,2}))?\s*(?:;.*)?$/.exec(member);
    if (!m || (m[1] !== 'sha-256' && m[1] !== 'sha-512')) continue;
    const weight = m[2] === undefined ? 1 : Number(m[2]);
    if (weight < 1 || weight > 10) continue;
    if (!best || weight > best.weight) best = { alg: m[1], weight };
  }
  return best?.alg;
}

/**
 * Send `Content-Digest` of what `stream` yields as an HTTP trailer (chunked: no Content-Length). The bytes are
 * hashed as the response pipe hands them to the socket, in the same turn (the stream may reuse a chunk's
 * memory once the socket took it).
 */
export function digestTrailer(reply: FastifyReply, stream: Readable, alg: DigestAlgorithm): void {
  const hash = createHash(nodeHashName(alg));
  // pipe() adds its own 'data' listener first, then announces itself: the hash sees each chunk right after it
  reply.raw.once('pipe', (src: Readable) => { if (src === stream) stream.on('data', (chunk: Buffer) => hash.update(chunk)); });
  void reply.removeHeader('content-length');
  void reply.trailer('content-digest', async () => `${alg}=:${hash.digest('base64')}:`);
}
