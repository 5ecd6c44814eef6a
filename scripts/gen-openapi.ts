// Writes openapi/openapi.json from the routes' zod schemas. `npm run openapi` after changing an API;
// test/unit/openapi-drift.test.ts fails when the committed file differs from what the code produces.
import { writeFileSync, mkdirSync } from 'node:fs';
import { openapiDocument } from '../test/helpers/openapi.js';

const doc = await openapiDocument();
mkdirSync('openapi', { recursive: true });
writeFileSync('openapi/openapi.json', `${JSON.stringify(doc, null, 2)}\n`);
console.log(`openapi/openapi.json: ${Object.keys((doc as { paths: object }).paths).length} paths`);
