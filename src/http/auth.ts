// Bearer-token authentication and scope/pool authorisation.
//
// Tokens come from a file (a mounted Kubernetes Secret in production). Two formats:
//   - lines:  <token> <scopes> [<pools>] [<name>]      e.g.  3f9c…e1  read,write  rbd,k8s  provisioner
//             scopes and pools are comma-separated; pools "*" (or omitted) = every pool; "#" starts a comment;
//             a pool may name one RBD namespace, "pool/ns", or every named namespace of it, "pool/*" (see allows)
//   - JSON:   [{ "name": "console", "token": "…", "scopes": ["read"], "pools": ["rbd"] }]
// Scopes nest: admin (pools) ⊇ write (images) ⊇ read. Only SHA-256 digests of tokens are kept in memory and
// they are compared in constant time; a token never reaches a log line (the entry's name does).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** Tokens shorter than this are refused when the file is loaded: they can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

export interface Principal {
  /** a label for logs and metrics, never the token */
  name: string;
  scope: Scope;
  /** pools this token may touch; undefined = all */
  pools: ReadonlySet<string> | undefined;
}

interface Entry extends Principal { digest: Buffer }

export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

const jsonEntry = z.object({
  name: z.string().min(1).max(128).optional(),
  token: z.string().min(MIN_TOKEN_LENGTH, `tokens must be at least ${MIN_TOKEN_LENGTH} characters`).max(4096),
  scopes: z.array(z.enum(SCOPES)).min(1),
  pools: z.array(z.string().min(1)).optional(),
}).strict();

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

function highest(scopes: readonly Scope[]): Scope {
  return scopes.reduce<Scope>((a, s) => (RANK[s] > RANK[a] ? s : a), 'read');
}

export class TokenStore {
  private constructor(private entries: readonly Entry[]) {}

  /** Take the tokens of another store (a reloaded file); requests in flight keep their principal. */
  replaceWith(other: TokenStore): void { this.entries = other.entries; }

  get size(): number { return this.entries.length; }

  static fromFile(path: string): TokenStore {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new TokenFileError(`cannot read API_TOKENS_FILE ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return TokenStore.parse(text, path);
  }

  /** Parse a token file; errors name the line but never echo a token. */
  static parse(text: string, source = 'tokens'): TokenStore {
    const entries: Entry[] = [];
    const trimmed = text.trim();
    if (trimmed.startsWith('[')) {
      let raw: unknown;
      try {
        raw = JSON.parse(trimmed);
      } catch {
        throw new TokenFileError(`${source}: not valid JSON`);
      }
      const parsed = z.array(jsonEntry).safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new TokenFileError(`${source}: entry ${String(issue.path[0] ?? '?')}: ${issue.path.slice(1).join('.')} ${issue.message}`);
      }
      parsed.data.forEach((e, i) => entries.push({
        name: e.name ?? `token-${i + 1}`,
        digest: digest(e.token),
        scope: highest(e.scopes),
        pools: e.pools && !e.pools.includes('*') ? new Set(e.pools) : undefined,
      }));
    } else {
      text.split(/\r?\n/).forEach((line, i) => {
        const content = line.replace(/(^|\s)#.*$/, '').trim();
        if (content === '') return;
        const [token, scopes, pools, name, ...rest] = content.split(/\s+/);
        const where = `${source} line ${i + 1}`;
        if (!token || !scopes || rest.length > 0) throw new TokenFileError(`${where}: expected "<token> <scopes> [<pools>] [<name>]"`);
        if (token.length < MIN_TOKEN_LENGTH) throw new TokenFileError(`${where}: tokens must be at least ${MIN_TOKEN_LENGTH} characters`);
        const list = scopes.split(',');
        const bad = list.find((s) => !(SCOPES as readonly string[]).includes(s));
        // never echo the field: with the columns in the wrong order it is the token itself
        if (bad !== undefined) {
          throw new TokenFileError(`${where}: column 2 is not a scope (use ${SCOPES.join(', ')}, comma-separated); `
            + 'expected "<token> <scopes> [<pools>] [<name>]" in that order');
        }
        const poolList = pools ? pools.split(',').filter(Boolean) : ['*'];
        entries.push({
          name: name ?? `line-${i + 1}`,
          digest: digest(token),
          scope: highest(list as Scope[]),
          pools: poolList.includes('*') ? undefined : new Set(poolList),
        });
      });
    }
    if (entries.length === 0) throw new TokenFileError(`${source}: no tokens`);
    const digests = new Set(entries.map((e) => e.digest.toString('hex')));
    if (digests.size !== entries.length) throw new TokenFileError(`${source}: the same token appears twice`);
    return new TokenStore(entries);
  }

  /** The principal a token belongs to. Every entry is compared, in constant time, whatever matches. */
  authenticate(token: string): Principal | undefined {
    const d = digest(token);
    let found: Entry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && !found) found = e;
    }
    return found && { name: found.name, scope: found.scope, pools: found.pools };
  }
}

export const allowsScope = (p: Principal, needed: Scope): boolean => RANK[p.scope] >= RANK[needed];
export const allowsPool = (p: Principal, pool: string): boolean => p.pools === undefined || p.pools.has(pool);

/**
 * May the token touch `namespace` of `pool`? Grants (the pools column): `pool` = the whole pool, every namespace
 * of it included; `pool/ns` = that namespace only; `pool/*` = every named namespace of the pool (not its default
 * namespace). `namespace` '' or undefined = the default namespace / the pool as a whole, which needs `pool`.
 */
export function allows(p: Principal, pool: string, namespace?: string): boolean {
  if (p.pools === undefined || p.pools.has(pool)) return true;
  if (!namespace) return false;
  return p.pools.has(`${pool}/*`) || p.pools.has(`${pool}/${namespace}`);
}

/**
 * Split images in any pool and namespace (a snapshot's clones) into those the token may see and the number it
 * may not: another tenant's clone of this tenant's snapshot is counted, never named.
 */
export function visibleTo<T extends { pool: string; namespace: string }>(p: Principal | undefined, items: readonly T[]): { shown: T[]; hidden: number } {
  const shown = p ? items.filter((i) => allows(p, i.pool, i.namespace)) : [...items];
  return { shown, hidden: items.length - shown.length };
}

/** Does the token hold any grant in `pool` (a namespace of it at least)? Decides what listings show. */
export function seesPool(p: Principal, pool: string): boolean {
  if (p.pools === undefined || p.pools.has(pool)) return true;
  for (const grant of p.pools) if (grant.startsWith(`${pool}/`)) return true;
  return false;
}

/** The token from an `Authorization: Bearer <token>` header, or undefined (missing or another scheme). */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ ]+([!-~]+)\s*$/i.exec(header);
  return m?.[1];
}
