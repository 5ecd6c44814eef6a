// The check of an import's http(s) source before librbd opens it. librbd 16.2's HttpClient fails a ceph_assert
// (SIGABRT: the whole service dies) when the server answers an error to the HEAD it sends while the import is
// prepared (a 404 did, Ceph 16.2.15: "unexpected state transition" in HttpClient.cc advance_state — the failed
// open shuts the session down while the error answer's end-of-stream resets it). So the service asks first, the
// way librbd will: a HEAD that must answer 2xx (no redirects: librbd does not follow them) with a
// Content-Length, and a one-byte range GET that must answer 206 (librbd reads with ranges only). A source that
// changes its answers between this check and librbd's requests can still hit the assert: docs/migration.md.
import { ImportSourceRefused } from './errors.js';

const TIMEOUT_MS = 10_000;

/** Resolves when `url` answers as librbd needs; ImportSourceRefused (with the reason) otherwise. */
export async function checkImportSource(url: string): Promise<{ size: number }> {
  const ask = async (method: 'HEAD' | 'GET', headers: Record<string, string> = {}): Promise<Response> => {
    try {
      return await fetch(url, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new ImportSourceRefused(url, `it could not be reached (${cause})`);
    }
  };
  const head = await ask('HEAD');
  await head.body?.cancel();
  if (head.status < 200 || head.status > 299) throw new ImportSourceRefused(url, `it answered HEAD with HTTP ${head.status} (librbd needs 2xx, no redirects)`);
  const length = head.headers.get('content-length');
  if (length === null || !/^\d+$/.test(length)) throw new ImportSourceRefused(url, 'its answer to HEAD has no Content-Length');
  const size = Number(length);
  if (size > 0) {
    const probe = await ask('GET', { range: 'bytes=0-0' });
    // a server that ignores ranges sends the whole file: never read it
    if (probe.status !== 206) await probe.body?.cancel();
    const body = probe.status === 206 ? Buffer.from(await probe.arrayBuffer().catch(() => new ArrayBuffer(0))) : Buffer.alloc(0);
    if (probe.status !== 206 || body.length !== 1) {
      throw new ImportSourceRefused(url, `it answered a range GET with HTTP ${probe.status} (librbd reads with ranges: it needs 206)`);
    }
  }
  return { size };
}
