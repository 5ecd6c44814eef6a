// Pool specs: "pool" (its default namespace) or "pool/namespace", as the rbd CLI spells them.

/** "pool" → {pool, namespace: ''}; "pool/ns" → {pool, namespace: 'ns'} (the rbd CLI's spelling). */
export function splitPoolSpec(spec: string): { pool: string; namespace: string } {
  const slash = spec.indexOf('/');
  return slash < 0 ? { pool: spec, namespace: '' } : { pool: spec.slice(0, slash), namespace: spec.slice(slash + 1) };
}

/** The inverse of splitPoolSpec. */
export function poolSpec(pool: string, namespace: string | undefined): string {
  return namespace ? `${pool}/${namespace}` : pool;
}
