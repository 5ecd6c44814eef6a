// The typed client (client/index.ts) with a contract check: every answer the service gives through it is
// validated against the committed OpenAPI document (openapi/openapi.json) — status documented for the
// operation, the documented media type, and the body against the documented schema (JSON Schema 2020-12,
// what OpenAPI 3.1 uses). A response that disagrees with the document makes the call reject, so a wrong
// schema fails the test that made the call, not only the compiler.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { createRbdClient, type RbdClient } from '../../client/index.js';

interface MediaType { schema?: unknown }
interface Operation { responses: Record<string, { content?: Record<string, MediaType> }> }
interface Doc { paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> }

const doc = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../openapi/openapi.json'), 'utf8')) as Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = new Map<string, ValidateFunction>();

function validatorFor(key: string, schema: unknown): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    // the operation's schema with the document's components beside it, so '#/components/schemas/X' resolves
    v = ajv.compile({ ...(schema as object), components: doc.components });
    validators.set(key, v);
  }
  return v;
}

export class ContractViolation extends Error {}

/** Check one answer against the document; throws ContractViolation with what disagrees. */
export async function checkAnswer(method: string, schemaPath: string, response: Response): Promise<void> {
  const where = `${method.toUpperCase()} ${schemaPath} → ${response.status}`;
  const op = doc.paths[schemaPath]?.[method.toLowerCase()];
  if (!op) throw new ContractViolation(`${where}: no such operation in openapi/openapi.json`);
  const documented = op.responses[String(response.status)] ?? op.responses[`${String(response.status)[0]}XX`] ?? op.responses.default;
  if (!documented) throw new ContractViolation(`${where}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`);
  const text = await response.clone().text();
  if (!documented.content) {
    if (text !== '') throw new ContractViolation(`${where}: documented without a body, got ${text.slice(0, 200)}`);
    return;
  }
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = documented.content[type];
  if (!media) throw new ContractViolation(`${where}: content-type ${type}, documented ${Object.keys(documented.content).join(', ')}`);
  if (media.schema === undefined) return;
  // a binary answer (a download) is checked for its documented media type only
  if (!type.includes('json')) return;
  const validate = validatorFor(`${method} ${schemaPath} ${response.status} ${type}`, media.schema);
  const body: unknown = JSON.parse(text);
  if (!validate(body)) {
    throw new ContractViolation(`${where}: body does not match the documented schema: ${ajv.errorsText(validate.errors)}; body ${text.slice(0, 300)}`);
  }
}

/** createRbdClient with every answer checked against openapi/openapi.json. */
export function checkedClient(baseUrl: string, token?: string): RbdClient {
  const client = createRbdClient(baseUrl, token);
  client.use({
    async onResponse({ request, response, schemaPath }) {
      await checkAnswer(request.method, schemaPath, response);
      return undefined;
    },
  });
  return client;
}
