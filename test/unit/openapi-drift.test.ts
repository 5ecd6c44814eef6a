import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openapiDocument } from '../helpers/openapi.js';

describe('openapi/openapi.json', () => {
  it('matches what the code produces (run `npm run openapi` after changing the API)', async () => {
    const committed = JSON.parse(readFileSync('openapi/openapi.json', 'utf8'));
    expect(await openapiDocument()).toEqual(committed);
  });

  it('documents every route of the contract', async () => {
    const doc = (await openapiDocument()) as { paths: Record<string, Record<string, unknown>> };
    const ops = Object.entries(doc.paths).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
    expect(ops).toEqual(expect.arrayContaining([
      'GET /api/v1/pools', 'POST /api/v1/pools', 'GET /api/v1/pools/{pool}', 'DELETE /api/v1/pools/{pool}',
      'GET /api/v1/pools/{pool}/images', 'POST /api/v1/pools/{pool}/images', 'PUT /api/v1/pools/{pool}/images/{image}',
      'GET /api/v1/pools/{pool}/images/{image}', 'PATCH /api/v1/pools/{pool}/images/{image}',
      'DELETE /api/v1/pools/{pool}/images/{image}', 'GET /healthz', 'GET /readyz',
    ]));
  });
});
