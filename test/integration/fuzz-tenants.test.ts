// Two tenants in one pool: a token scoped to `pool/tenant-a` tries every route of the committed OpenAPI
// document, every method, aimed at tenant B's namespace, at the pool's default namespace and at another pool,
// with bodies that would work there — and, from its own namespace, clones and copies whose source or
// destination is somebody else's. Every answer must be a refusal (403 FORBIDDEN, or 404 for what it may not
// know exists), never a 2xx and never a 5xx — but for the tenant's own pool, its namespace list and its I/O
// table, which answer filtered to tenant A; tenant B's images, snapshots and metadata are unchanged after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { documentedRoutes, fillTemplate } from '../helpers/openapi-routes.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const ADMIN = 'tenants-admin-0123456789abcdef';
const TENANT_A = 'tenants-a-0123456789abcdef0123';

let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let other: { name: string; remove: () => Promise<void> };

const as = (token: string, body?: unknown) => ({
  headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
});
/** What tenant B has, as the rbd CLI sees it: images, their sizes, snapshots and metadata. */
const tenantB = (): string => ['', '--namespace=tenant-b'].map((ns) => {
  const args = ns ? [ns] : [];
  return rbd('ls', '-l', '--format', 'json', ...args, pool.name)
    + rbd('image-meta', 'list', '--format', 'json', ...args, `${pool.name}/img`)
    + rbd('snap', 'ls', '--format', 'json', ...args, `${pool.name}/img`).replace(/"timestamp":"[^"]*"/g, '');
}).join('\n') + rbd('ls', '-l', '--format', 'json', other.name);

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'tenants');
  other = await makePool(conn, 'tenants-other');
  const tokens = TokenStore.parse([`${ADMIN} admin * operator`, `${TENANT_A} admin ${pool.name}/tenant-a tenant-a`].join('\n'));
  t = await testApp('rbdapi', { auth: tokens });
  // the same fixture in tenant A, tenant B, the default namespace and another pool: image img, snapshot snap, key k1
  for (const [p, ns] of [[pool.name, 'tenant-a'], [pool.name, 'tenant-b'], [pool.name, ''], [other.name, '']] as const) {
    if (ns) expect((await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${p}/namespaces/${ns}`, ...as(ADMIN) })).statusCode).toBe(201);
    const base = `/api/v1/pools/${p}${ns ? `/namespaces/${ns}` : ''}/images`;
    expect((await t.app.inject({ method: 'PUT', url: `${base}/img`, ...as(ADMIN, { size: '8MiB' }) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/img/snapshots/snap`, ...as(ADMIN, {}) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/img/metadata/k1`, ...as(ADMIN, { value: 'v' }) })).statusCode).toBe(201);
  }
}, 120_000);
afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await other?.remove();
  await conn?.close();
});

/** Bodies that would be accepted where the token may act, so that a refusal is the scope's doing. */
function bodyFor(method: string, template: string): unknown {
  if (method === 'get' || method === 'delete') return undefined;
  if (template.endsWith('/copy')) return { destination: { name: 'stolen' } };
  if (template.endsWith('/metadata/{key}')) return { value: 'x' };
  if (template.endsWith('/snapshots')) return { name: 's2' };
  if (template.endsWith('/snapshots/{snapshot}')) return method === 'patch' ? { protected: true } : {};
  if (template.endsWith('/restore')) return {};
  if (template.endsWith('/images')) return { name: 'new', size: '1MiB' };
  if (template.endsWith('/images/{image}')) return method === 'patch' ? { size: '16MiB' } : { size: '8MiB' };
  if (template.endsWith('/namespaces/{namespace}') || template.endsWith('/pools')) return method === 'post' ? { name: 'newpool' } : {};
  return {};
}

describe('a token scoped to pool/tenant-a', () => {
  it('is refused (403/404, never 2xx or 5xx) on every route aimed at tenant B, the default namespace or another pool', async () => {
    const before = tenantB();
    const failures: string[] = [];
    let requests = 0;
    for (const { template, method } of documentedRoutes()) {
      if (!template.includes('{pool}')) continue; // /pools, /tasks, probes: not aimed at one pool (filtered lists, own tests)
      if (template.endsWith('/events')) continue;
      const targets = template.includes('{namespace}')
        ? [[pool.name, 'tenant-b'], [other.name, 'tenant-b']]
        : [[pool.name, ''], [other.name, '']];
      for (const [p, ns] of targets) {
        const real: Record<string, string> = { pool: p!, namespace: ns!, image: 'img', snapshot: 'snap', key: 'k1', id: 'someid' };
        const url = fillTemplate(template, (name) => real[name] ?? 'x')
          + (template.endsWith('/rollback') ? '?confirm=img' : method === 'delete' && template.endsWith('/{pool}') ? `?confirm=${p}&force=true` : '');
        const r = await t.app.inject({ method: method.toUpperCase() as 'GET', url, ...as(TENANT_A, bodyFor(method, template)) });
        requests++;
        if (r.statusCode === 403 || r.statusCode === 404) continue;
        // by design, in the tenant's own pool: the pool itself, its namespace list and its I/O table, each
        // filtered to what the token may use (README "Authentication"; checked here that nothing else shows)
        const own = p === pool.name && method === 'get' && r.statusCode === 200;
        if (own && url === `/api/v1/pools/${p}`) continue;
        if (own && url === `/api/v1/pools/${p}/namespaces` && JSON.stringify(r.json().items.map((i: { name: string }) => i.name)) === '["tenant-a"]') continue;
        if (own && url === `/api/v1/pools/${p}/iostat` && (r.json().items as { namespace: string }[]).every((i) => i.namespace === 'tenant-a')) continue;
        failures.push(`${method.toUpperCase()} ${url} → ${r.statusCode} ${r.body.slice(0, 200)}`);
      }
    }
    console.log(`${requests} requests aimed outside the token's namespace`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(requests).toBeGreaterThan(100);
    expect(tenantB()).toBe(before);
  }, 300_000);

  it('from its own namespace, cannot clone from or copy to somebody else\'s namespace or pool', async () => {
    const before = tenantB();
    const mine = `/api/v1/pools/${pool.name}/namespaces/tenant-a/images`;
    const sources = [
      { namespace: 'tenant-b', image: 'img', snapshot: 'snap' },
      { pool: pool.name, image: 'img', snapshot: 'snap' }, // with a pool and no namespace: the default namespace
      { pool: other.name, image: 'img', snapshot: 'snap' },
      { pool: other.name, namespace: 'tenant-a', image: 'img', snapshot: 'snap' },
    ];
    for (const source of sources) {
      for (const r of [
        await t.app.inject({ method: 'PUT', url: `${mine}/cloned`, ...as(TENANT_A, { source }) }),
        await t.app.inject({ method: 'POST', url: mine, ...as(TENANT_A, { name: 'cloned', source }) }),
      ]) {
        expect(r.statusCode, `clone of ${JSON.stringify(source)}: ${r.body}`).toBe(403);
        expect(r.json().code).toBe('FORBIDDEN');
      }
    }
    for (const destination of [
      { namespace: 'tenant-b', name: 'stolen' }, { namespace: '', name: 'stolen' }, { pool: other.name, name: 'stolen' },
      { pool: pool.name, namespace: '', name: 'stolen' },
      { pool: other.name, namespace: 'tenant-a', name: 'stolen' },
    ]) {
      const r = await t.app.inject({ method: 'POST', url: `${mine}/img/copy`, ...as(TENANT_A, { destination }) });
      expect(r.statusCode, `copy to ${JSON.stringify(destination)}: ${r.body}`).toBe(403);
      expect(r.json().code).toBe('FORBIDDEN');
    }
    // and within its namespace both work (the refusals above are the scope's, not the bodies')
    expect((await t.app.inject({ method: 'PUT', url: `${mine}/cloned`, ...as(TENANT_A, { source: { image: 'img', snapshot: 'snap' } }) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: `${mine}/img/copy`, ...as(TENANT_A, { destination: { name: 'copied' } }) })).statusCode).toBe(202);
    expect(tenantB()).toBe(before);
    expect(rbd('ls', '--namespace', 'tenant-b', pool.name).trim().split('\n')).toEqual(['img']);
    expect(rbd('ls', pool.name).trim().split('\n')).toEqual(['img']);
  });

  it("sees another tenant's clone of its snapshot counted, never named (children list, 409 SNAPSHOT_HAS_CHILDREN)", async () => {
    const mine = `/api/v1/pools/${pool.name}/namespaces/tenant-a/images`;
    // the operator clones tenant A's snapshot into tenant B (the tenant itself could not: see above)
    const made = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/namespaces/tenant-b/images/secret-clone`,
      ...as(ADMIN, { source: { namespace: 'tenant-a', image: 'img', snapshot: 'snap' } }) });
    expect(made.statusCode, made.body).toBe(201);
    const asA = await t.app.inject({ method: 'GET', url: `${mine}/img/children`, ...as(TENANT_A) });
    expect(asA.statusCode).toBe(200);
    expect(asA.json().hidden).toBe(1);
    expect(asA.json().items.map((c: { image: string }) => c.image)).not.toContain('secret-clone');
    const asAdmin = await t.app.inject({ method: 'GET', url: `${mine}/img/children`, ...as(ADMIN) });
    expect(asAdmin.json().items).toContainEqual({ pool: pool.name, namespace: 'tenant-b', image: 'secret-clone', snapshot: 'snap', trash: false });
    expect(asAdmin.json().hidden).toBe(0);
    const del = await t.app.inject({ method: 'DELETE', url: `${mine}/img/snapshots/snap`, ...as(TENANT_A) });
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('SNAPSHOT_HAS_CHILDREN');
    expect(del.body).not.toContain('secret-clone');
    expect(del.body).not.toContain('tenant-b');
    expect(del.json().hiddenChildren).toBe(1);
    const delAdmin = await t.app.inject({ method: 'DELETE', url: `${mine}/img/snapshots/snap`, ...as(ADMIN) });
    expect(delAdmin.statusCode).toBe(409);
    expect(delAdmin.json().detail).toContain('tenant-b/secret-clone');
  });

  it("sees its clone of another tenant's snapshot as a clone of something not named (parent {hidden, overlap})", async () => {
    const mine = `/api/v1/pools/${pool.name}/namespaces/tenant-a/images`;
    // the operator clones snapshots of tenant B, of the default namespace and of another pool into tenant A
    const sources: Record<string, { pool?: string; namespace?: string }> = { fromB: { namespace: 'tenant-b' }, fromDefault: { pool: pool.name, namespace: '' }, fromOther: { pool: other.name } };
    for (const [name, where] of Object.entries(sources)) {
      const made = await t.app.inject({ method: 'PUT', url: `${mine}/${name}`, ...as(ADMIN, { source: { ...where, image: 'img', snapshot: 'snap' } }) });
      expect(made.statusCode, made.body).toBe(201);
      // the operator's answer names it
      expect(made.json().parent).toMatchObject({ pool: where.pool ?? pool.name, namespace: where.namespace ?? '', image: 'img', snapshot: 'snap' });
    }
    const hidden = { hidden: true, overlap: 8 * 1024 * 1024 };
    const leaks = (body: string): string[] => ['tenant-b', other.name, '"namespace":""'].filter((w) => body.includes(w));
    for (const name of Object.keys(sources)) {
      const answers = {
        get: await t.app.inject({ method: 'GET', url: `${mine}/${name}`, ...as(TENANT_A) }),
        put: await t.app.inject({ method: 'PUT', url: `${mine}/${name}`, ...as(TENANT_A, { size: '8MiB' }) }),
        patch: await t.app.inject({ method: 'PATCH', url: `${mine}/${name}`, ...as(TENANT_A, { size: '8MiB' }) }),
      };
      for (const [what, r] of Object.entries(answers)) {
        expect(r.statusCode, `${what} ${name}: ${r.body}`).toBe(200);
        expect(r.json().parent, `${what} ${name}`).toEqual(hidden);
        expect(leaks(r.body), `${what} ${name}: ${r.body}`).toEqual([]);
      }
      // a PUT of the name as a clone of tenant A's own snapshot: a conflict that does not name the real source
      const conflict = await t.app.inject({ method: 'PUT', url: `${mine}/${name}`, ...as(TENANT_A, { source: { image: 'img', snapshot: 'snap' } }) });
      expect(conflict.statusCode, conflict.body).toBe(409);
      expect(conflict.json().code).toBe('IMAGE_SPEC_CONFLICT');
      expect(conflict.json().detail).toContain('a snapshot in a pool or namespace this token may not use');
      expect(leaks(conflict.body), conflict.body).toEqual([]);
      expect((await t.app.inject({ method: 'GET', url: `${mine}/${name}`, ...as(ADMIN) })).json().parent).toHaveProperty('image', 'img');
    }
    const list = await t.app.inject({ method: 'GET', url: `${mine}?details=true`, ...as(TENANT_A) });
    expect(list.statusCode).toBe(200);
    expect(leaks(list.body), list.body).toEqual([]);
    const parents = Object.fromEntries(list.json().items.map((i: { name: string; parent: unknown }) => [i.name, i.parent]));
    expect(parents).toMatchObject({ fromB: hidden, fromDefault: hidden, fromOther: hidden, img: null });
    // its own clone (made above) keeps a named parent
    expect(parents.cloned).toEqual({ pool: pool.name, namespace: 'tenant-a', image: 'img', snapshot: 'snap', overlap: 8 * 1024 * 1024 });
  });

  it('one scope, one spelling: a pool or namespace name holding "/" or NUL is 400 on every route and in every pool field', async () => {
    const failures: string[] = [];
    let requests = 0;
    const expect400 = (what: string, r: { statusCode: number; body: string; json: () => any }, field: string) => {
      requests++;
      if (r.statusCode !== 400 || r.json().code !== 'VALIDATION_FAILED' || !String(r.json().detail).includes(field)) {
        failures.push(`${what} → ${r.statusCode} ${r.body.slice(0, 200)}`);
      }
    };
    // `pool%2Ftenant-a` would be the tenant's scope spelled as one pool name (a grant "pool/tenant-a" matches it
    // as a whole); `tenant-a%2Fx` a namespace inside a namespace
    for (const { template, method } of documentedRoutes()) {
      if (!template.includes('{pool}') || template.endsWith('/events')) continue;
      const spellings: [string, string, string][] = [
        [`${pool.name}%2Ftenant-a`, 'tenant-a', 'params.pool'], [`${pool.name}%00`, 'tenant-a', 'params.pool'],
        [`${pool.name}%2F`, 'tenant-a', 'params.pool'],
        ...(template.includes('{namespace}') ? [[pool.name, 'tenant-a%2Fx', 'params.namespace'], [pool.name, 'tenant-a%00', 'params.namespace']] as [string, string, string][] : []),
      ];
      for (const [p, ns, field] of spellings) {
        const real: Record<string, string> = { pool: p, namespace: ns, image: 'img', snapshot: 'snap', key: 'k1', id: 'someid' };
        const url = fillTemplate(template, (name) => real[name] ?? 'x') + (template.endsWith('/rollback') ? '?confirm=img' : '');
        // the operator's token: whatever a grant says, the name is refused as a name
        expect400(`${method.toUpperCase()} ${url}`, await t.app.inject({ method: method.toUpperCase() as 'GET', url, ...as(ADMIN, bodyFor(method, template)) }), field);
      }
    }
    // the probe's requests with the tenant's own token
    for (const url of [`/api/v1/pools/${pool.name}%2Ftenant-a/images`, `/api/v1/pools/${pool.name}%2Ftenant-a/iostat`,
      `/api/v1/pools/${pool.name}%2Ftenant-a/namespaces/tenant-b/images`]) {
      expect400(`GET ${url} (tenant A)`, await t.app.inject({ method: 'GET', url, ...as(TENANT_A) }), 'params.pool');
    }
    for (const q of [`${pool.name}%00`, `${pool.name}%2Ftenant-a`, `${pool.name}/tenant-a`, '%2F']) {
      for (const token of [ADMIN, TENANT_A]) expect400(`GET /tasks?pool=${q}`, await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${q}`, ...as(token) }), 'querystring.pool');
    }
    // pool fields of bodies: dataPool (create, PUT, clone, copy), a clone's source pool and namespace
    const mine = `/api/v1/pools/${pool.name}/namespaces/tenant-a/images`;
    for (const bad of [`${pool.name}/tenant-a`, 'p\0']) {
      expect400('POST dataPool', await t.app.inject({ method: 'POST', url: mine, ...as(ADMIN, { name: 'dp', size: '1MiB', dataPool: bad }) }), 'dataPool');
      expect400('PUT dataPool', await t.app.inject({ method: 'PUT', url: `${mine}/dp`, ...as(ADMIN, { size: '1MiB', dataPool: bad }) }), 'dataPool');
      expect400('copy dataPool', await t.app.inject({ method: 'POST', url: `${mine}/img/copy`, ...as(ADMIN, { destination: { name: 'dp' }, dataPool: bad }) }), 'dataPool');
      expect400('copy destination pool', await t.app.inject({ method: 'POST', url: `${mine}/img/copy`, ...as(ADMIN, { destination: { pool: bad, name: 'dp' } }) }), 'destination.pool');
      expect400('clone source pool', await t.app.inject({ method: 'PUT', url: `${mine}/dp`, ...as(ADMIN, { source: { pool: bad, image: 'img', snapshot: 'snap' } }) }), 'source.pool');
      expect400('clone source namespace', await t.app.inject({ method: 'PUT', url: `${mine}/dp`, ...as(ADMIN, { source: { namespace: bad.replace(`${pool.name}/`, 'x/'), image: 'img', snapshot: 'snap' } }) }), 'source.namespace');
    }
    console.log(`${requests} requests with a "/" or NUL in a pool or namespace name`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(rbd('ls', '--namespace', 'tenant-a', pool.name).trim().split('\n')).not.toContain('dp');
  });
});
