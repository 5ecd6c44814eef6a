// Swagger UI in a real browser (playwright-core driving Debian's /usr/bin/chromium; no browser download):
// the service with authentication on, /docs opened, Authorize with a token, "Try it out" on PUT image with
// the example body the document offers, unchanged, and on the image list; a download of image content ("Download file"
// holds the bytes); the status and body the page
// shows are asserted and cross-checked with Ceph. A screenshot is saved to .build/swagger-ui*.png.
// scripts/setup.sh --test (npm test) installs chromium when it is missing.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { importRandom } from '../helpers/cli.js';
import { connect, makePool, uniqueName } from '../helpers/cluster.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'swagger-ui-test-token-0123456789abcdef';
/** the document the service serves (openapi-drift keeps the file equal to it) */
const DOCUMENT = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as
  { paths: Record<string, Record<string, { operationId?: string; tags: string[] }>> };
let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let browser: Browser;
let page: Page;
let base: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh --test (apt-get install chromium)`);
  conn = await connect();
  pool = await makePool(conn, 'swagger');
  t = await testApp('admin', { auth: TokenStore.parse(`${TOKEN} write * swagger-ui\n`) });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 1800 } });
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  mkdirSync('.build', { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

/** The tag of an operation in the document the page shows. */
function tagOf(operation: string): string {
  for (const ops of Object.values(DOCUMENT.paths)) {
    for (const op of Object.values(ops)) if (op.operationId === operation) return op.tags[0]!;
  }
  throw new Error(`no operation ${operation}`);
}

/** Open a tag group (the page lists the groups folded: uiConfig docExpansion none). */
async function openGroup(tag: string): Promise<void> {
  const h = page.locator(`h3.opblock-tag[data-tag="${tag}"]`);
  if ((await h.getAttribute('data-is-open')) !== 'true') await h.click();
  await expect.poll(() => h.getAttribute('data-is-open')).toBe('true');
}

/** Open the tag group of `operation`. */
async function openGroupOf(operation: string): Promise<void> {
  await openGroup(tagOf(operation));
  await page.locator(`[id$="-${operation}"].opblock`).waitFor();
}

/** Expand an operation, press "Try it out", fill path parameters, Execute; returns what the page shows. */
async function tryItOut(operation: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  await openGroupOf(operation);
  const op = page.locator(`[id$="-${operation}"].opblock`);
  if (!(await op.getAttribute('class'))!.split(/\s+/).includes('is-open')) await op.locator('.opblock-summary').first().click();
  const tryOut = op.getByRole('button', { name: 'Try it out' });
  if (await tryOut.count()) await tryOut.click();
  for (const [name, value] of Object.entries(params)) {
    await op.locator(`tr[data-param-name="${name}"] input`).fill(value);
  }
  // an earlier answer of this operation would be read as this one's: clear it first
  const clear = op.locator('button.btn-clear');
  if (await clear.count()) await clear.click();
  await op.getByRole('button', { name: 'Execute' }).click();
  const row = op.locator('.live-responses-table tbody tr.response').first();
  await row.waitFor();
  const status = Number((await row.locator('.response-col_status').innerText()).trim());
  const body = await row.locator('.response-col_description pre').first().innerText();
  return { status, body };
}

describe('Swagger UI at /docs (chromium)', () => {
  it('renders the 3.1 document, authorizes with a token, creates an image with the example body and lists it', async () => {
    const image = uniqueName('from-browser');
    await page.goto(`${base}/docs`);
    await expect.poll(() => page.locator('.information-container .title').innerText()).toMatch(/rbd-rest-api[\s\S]*OAS 3\.1/);

    // without authorizing, the API answers 401 in the page
    const denied = await tryItOut('listImages', { pool: pool.name });
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.body)).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    await page.locator('.auth-wrapper .authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.locator('input').first().fill(TOKEN);
    await modal.getByRole('button', { name: 'Apply credentials' }).click(); // the dialog's "Authorize"
    await expect.poll(() => modal.getByRole('button', { name: 'Remove authorization' }).count()).toBe(1); // "Logout"
    await modal.locator('button.btn-done').click(); // "Close"

    // PUT with the example the document offers, unchanged
    const putOp = page.locator('[id$="-putImage"].opblock');
    const put = await tryItOut('putImage', { pool: pool.name, image });
    const sent = await putOp.locator('textarea.body-param__text').inputValue();
    // the first example the document offers: a Kubernetes quantity (10Gi = 10 × 2^30 bytes)
    expect(JSON.parse(sent)).toEqual({ size: '10Gi' });
    expect(put.status).toBe(201);
    expect(JSON.parse(put.body)).toMatchObject({ name: image, pool: pool.name, size: 10 * 1024 ** 3 });
    // the image is really there, as the page says
    expect((await new Images(conn).stat(pool.name, image)).size).toBe(10 * 1024 ** 3);

    const list = await tryItOut('listImages', { pool: pool.name });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).items).toContainEqual({ name: image });

    await page.screenshot({ path: '.build/swagger-ui.png', fullPage: false });
    await putOp.screenshot({ path: '.build/swagger-ui-put.png' });
    expect(pageErrors).toEqual([]);
  }, 180_000); // ~12 s alone, 70 s seen on a busy 2-core machine

  it('groups the namespaced twins under their own tags, shows the event stream and the task links, runs a QoS call', async () => {
    const section = (tag: string) => page.locator(`.opblock-tag-section:has(> h3.opblock-tag[data-tag="${tag}"])`);
    // every tag group listed (folded)
    await expect.poll(() => page.locator('h3.opblock-tag').count(), { timeout: 30_000 }).toBeGreaterThan(20);
    for (const t of ['images', 'images (namespace)']) await openGroup(t);
    const tags = await page.locator('h3.opblock-tag').evaluateAll((hs) => hs.map((h) => h.getAttribute('data-tag')));
    const twins = tags.filter((t) => t?.endsWith(' (namespace)'));
    expect(twins).toEqual(expect.arrayContaining(['images (namespace)', 'snapshots (namespace)', 'qos (namespace)']));
    expect(tags.indexOf('images (namespace)')).toBeGreaterThan(tags.indexOf('cluster')); // after every plain tag
    // the "images" group holds the pool-scope operations only; its twin group the namespaced ones
    const paths = async (tag: string) => section(tag).locator('.opblock-summary-path').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-path')));
    const plain = await paths('images');
    const namespaced = await paths('images (namespace)');
    expect(plain.length).toBeGreaterThan(3);
    expect(plain.some((p) => p?.includes('/namespaces/'))).toBe(false);
    expect(namespaced).toHaveLength(plain.length);
    expect(namespaced.every((p) => p?.startsWith('/api/v1/pools/{pool}/namespaces/{namespace}/'))).toBe(true);

    // the event stream's media type and schema; a 202's links to the task
    await openGroupOf('taskEvents');
    const events = page.locator('[id$="-taskEvents"].opblock');
    await events.locator('.opblock-summary').first().click();
    await expect.poll(() => events.locator('.responses-wrapper').innerText()).toMatch(/text\/event-stream/);
    await openGroupOf('flattenImage');
    const flatten = page.locator('[id$="-flattenImage"].opblock');
    await flatten.locator('.opblock-summary').first().click();
    await expect.poll(() => flatten.locator('.responses-wrapper').innerText()).toMatch(/getTask[\s\S]*taskEvents/);

    const qos = await tryItOut('getPoolQos', { pool: pool.name });
    expect(qos.status).toBe(200);
    expect(JSON.parse(qos.body)).toMatchObject({ iopsLimit: { value: 0, source: 'default' } });
    await section('images (namespace)').screenshot({ path: '.build/swagger-ui-namespace-tags.png' });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('downloads an image\'s content from the page: "Download file" holds the image\'s bytes, named after it', async () => {
    const image = uniqueName('dl');
    const bytes = await importRandom(pool.name, image, 300_000 + 17);
    const operation = 'getImageContent';
    await openGroupOf(operation);
    const op = page.locator(`[id$="-${operation}"].opblock`);
    if (!(await op.getAttribute('class'))!.split(/\s+/).includes('is-open')) await op.locator('.opblock-summary').first().click();
    const tryOut = op.getByRole('button', { name: 'Try it out' });
    if (await tryOut.count()) await tryOut.click();
    await op.locator('tr[data-param-name="pool"] input').fill(pool.name);
    await op.locator('tr[data-param-name="image"] input').fill(image);
    await op.getByRole('button', { name: 'Execute' }).click();
    const row = op.locator('.live-responses-table tbody tr.response').first();
    await row.waitFor();
    expect(Number((await row.locator('.response-col_status').innerText()).trim())).toBe(200);
    const link = row.locator('a[download]');
    await link.waitFor();
    expect(await link.getAttribute('download')).toBe(`${image}.raw`);
    // what a click saves: the blob the link points at, hashed in the page
    const got = await page.evaluate(async (href) => {
      const b = new Uint8Array(await (await fetch(href)).arrayBuffer());
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', b));
      return { length: b.length, sha: Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('') };
    }, (await link.getAttribute('href'))!);
    expect(got).toEqual({ length: bytes.length, sha: createHash('sha256').update(bytes).digest('hex') });
    await op.screenshot({ path: '.build/swagger-ui-download.png' });
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
