// The OpenAPI document's last step (plugins/openapi.ts generates it from the routes' zod schemas).
//
// fastify-type-provider-zod emits every registered schema twice (`X` for responses, `XInput` for request
// parts) and @fastify/swagger names every response "Default Response". `tidyDocument` below turns that into
// a document tools accept (redocly lint: 0 errors), for any route, without knowing the routes:
//   - one component schema per concept: `XInput` becomes `X` when `X` is unused or identical; schemas that
//     nothing references are dropped;
//   - every response has a description (the HTTP reason phrase when the route gave none);
//   - error responses that carry a problem document are `application/problem+json` (what the service sends);
//   - a JSON request body gets an example made of its required fields only (from each field's `examples`,
//     `default`, `enum` or `const`), so Swagger UI's "Try it out" sends something the API accepts;
//   - tags used by operations but not declared are declared; the tags of namespaced twins (`images (namespace)`,
//     registerScoped in paths.ts) come after all others, described after their pool-scope tag, so Swagger UI
//     lists the twins apart instead of doubling every group;
//   - a response whose schema says `x-media-type` (e.g. text/event-stream) is documented under that type;
//   - the 200/201 answers of an operation marked `x-etag` (plugins/safe-retries.ts) declare their ETag header;
//   - a 202 answered with a task (the Task schema) links to the task's operations (getTask, taskEvents,
//     cancelTask), with the task id from the body;
//   - zod's implicit bounds of an unbounded integer (±(2^53 − 1), "a safe integer") are dropped: they say
//     nothing, and Swagger UI shows the lower one (-9007199254740991) as the example of every size and count.
import { STATUS_CODES } from 'node:http';
import { NAMESPACE_TAG_SUFFIX } from './paths.js';
import { ETAG_MARK } from './schemas/common.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const REF = '#/components/schemas/';
const PROBLEM = 'Problem';
const TASK = 'Task';
/** What a 202 that answers with a task links to: operationId → what the link does. */
const TASK_LINKS: Record<string, string> = {
  getTask: 'Poll the task until its state is succeeded, failed or cancelled',
  taskEvents: 'Follow the task as Server-Sent Events until it ends',
  cancelTask: 'Cancel the task',
};
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

/** Descriptions for tags that routes use without declaring them (resources added by other route files). */
const TAG_DESCRIPTIONS: Record<string, string> = {
  namespaces: 'RBD namespaces of a pool',
  snapshots: 'Snapshots of an image',
  clones: 'Copy-on-write clones of a snapshot',
  metadata: 'Key/value metadata of an image',
  qos: 'QoS limits (librbd rbd_qos_* options) of an image or a pool, with the source of each value',
  trash: 'Images moved to the trash: restore or purge',
  tasks: 'Long operations running in the background',
  schedules: 'Snapshot schedules with retention and trash purge schedules that run by themselves',
};

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Names of the component schemas reachable from the document outside `components.schemas`, transitively. */
function usedSchemas(doc: JsonObject, schemas: JsonObject): Set<string> {
  const used = new Set<string>();
  const visit = (v: Json | undefined): void => {
    if (Array.isArray(v)) { for (const x of v) visit(x); return; }
    if (!isObject(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith(REF)) {
        const name = x.slice(REF.length);
        if (!used.has(name)) { used.add(name); visit(schemas[name]); }
      } else {
        visit(x);
      }
    }
  };
  for (const [k, v] of Object.entries(doc)) if (k !== 'components') visit(v);
  const components = isObject(doc.components) ? doc.components : {};
  for (const [k, v] of Object.entries(components)) if (k !== 'schemas') visit(v);
  return used;
}

interface Derived { value: Json; /** values made up from a field's name: fewer is better */ weak: number; explicit: boolean }

/**
 * An example value a schema allows, or undefined when none can be derived with confidence. Objects get their
 * required fields (or, with none required, the first field that has an example: an empty PATCH is refused);
 * of the branches of anyOf/oneOf, the one with the fewest made-up values wins (a clone spec whose source
 * would be "example-image" loses against a plain spec with a real example size).
 */
function derive(schema: Json | undefined, schemas: JsonObject, depth = 0): Derived | undefined {
  if (!isObject(schema) || depth > 8) return undefined;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith(REF)) return derive(schemas[schema.$ref.slice(REF.length)], schemas, depth + 1);
  if ('example' in schema) return { value: schema.example!, weak: 0, explicit: true };
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return { value: schema.examples[0]!, weak: 0, explicit: true };
  if ('const' in schema) return { value: schema.const!, weak: 0, explicit: false };
  if ('default' in schema) return { value: schema.default!, weak: 0, explicit: false };
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return { value: schema.enum[0]!, weak: 0, explicit: false };
  for (const k of ['anyOf', 'oneOf'] as const) {
    const branches = schema[k];
    if (Array.isArray(branches)) {
      let best: Derived | undefined;
      for (const b of branches) {
        const d = derive(b, schemas, depth + 1);
        if (d && (!best || d.weak < best.weak)) best = d;
      }
      return best;
    }
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object' || isObject(schema.properties)) {
    const props = isObject(schema.properties) ? schema.properties : {};
    const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
    const out: JsonObject = {};
    let weak = 0;
    let explicit = false;
    for (const name of required) {
      const d = derive(props[name], schemas, depth + 1);
      if (d) {
        out[name] = d.value; weak += d.weak; explicit ||= d.explicit;
      } else {
        const made = nameExample(name, props[name]);
        if (made === undefined) return undefined;
        out[name] = made; weak++;
      }
    }
    if (required.length === 0) {
      const fields = Object.entries(props).map(([name, p]) => [name, derive(p, schemas, depth + 1)] as const);
      const pick = fields.find(([, d]) => d?.explicit) ?? fields.find(([, d]) => d !== undefined && d.weak === 0);
      if (pick) { out[pick[0]] = pick[1]!.value; explicit = pick[1]!.explicit; }
    }
    return { value: out, weak, explicit };
  }
  if (type === 'array') {
    const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
    if (min === 0) return { value: [], weak: 0, explicit: false };
    const item = derive(schema.items, schemas, depth + 1);
    return item === undefined ? undefined : { ...item, value: Array.from({ length: min }, () => item.value) };
  }
  if (type === 'boolean') return { value: false, weak: 0, explicit: false };
  if (type === 'integer' || type === 'number') {
    // only when a lower bound says what is valid: 0 is rarely a useful size or count
    return typeof schema.minimum === 'number' ? { value: schema.minimum, weak: 0, explicit: false } : undefined;
  }
  return undefined;
}

/** A string for a required field without an example: "example-<field>" when the field's constraints allow it. */
function nameExample(field: string, schema: Json | undefined): Json | undefined {
  if (!isObject(schema) || schema.type !== 'string' || schema.format !== undefined) return undefined;
  const candidate = `example-${field}`.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  if (typeof schema.minLength === 'number' && candidate.length < schema.minLength) return undefined;
  if (typeof schema.maxLength === 'number' && candidate.length > schema.maxLength) return undefined;
  if (typeof schema.pattern === 'string') {
    try { if (!new RegExp(schema.pattern, 'u').test(candidate)) return undefined; } catch { return undefined; }
  }
  return candidate;
}

/** Does this response schema describe a problem document? */
function isProblemSchema(schema: Json | undefined, schemas: JsonObject): boolean {
  if (!isObject(schema)) return false;
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.slice(REF.length);
    return name === PROBLEM || isProblemSchema(schemas[name], schemas);
  }
  const p = isObject(schema.properties) ? schema.properties : {};
  return ['type', 'title', 'status', 'code'].every((k) => k in p);
}

const ETAG_HEADER: Json = {
  description: 'the representation\'s entity tag: send it back in If-Match to change it only if nobody else did (412 otherwise), '
    + 'or in If-None-Match on a GET (304 while unchanged)',
  schema: { type: 'string', examples: ['"c2b5e1f0a9d3"'] },
};

/** Rewrites the document @fastify/swagger built (see the file's header). Pure: returns a new object. */
export function tidyDocument(input: unknown): unknown {
  const doc = JSON.parse(JSON.stringify(input)) as JsonObject;
  const components = isObject(doc.components) ? doc.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};

  // 1. one schema per concept
  const used = usedSchemas(doc, schemas);
  const rename = new Map<string, string>();
  for (const name of used) {
    if (!name.endsWith('Input')) continue;
    const plain = name.slice(0, -'Input'.length);
    if (!plain) continue;
    if (!used.has(plain) || JSON.stringify(schemas[plain]) === JSON.stringify(schemas[name])) rename.set(name, plain);
  }
  const kept: JsonObject = {};
  for (const [name, schema] of Object.entries(schemas)) {
    if (!used.has(name)) continue;
    const to = rename.get(name) ?? name;
    if (!(to in kept) || rename.has(name)) kept[to] = schema;
  }
  const renamed = JSON.parse(JSON.stringify({ ...doc, components: { ...components, schemas: kept } }), (k, v: Json) =>
    k === '$ref' && typeof v === 'string' && v.startsWith(REF) && rename.has(v.slice(REF.length))
      ? REF + rename.get(v.slice(REF.length))! : v) as JsonObject;
  const finalSchemas = (renamed.components as JsonObject).schemas as JsonObject;

  // media types other than JSON named by a schema (x-media-type), then dropped from the schemas
  const mediaTypeOf = (schema: Json | undefined): string | undefined => {
    if (!isObject(schema)) return undefined;
    const target = typeof schema.$ref === 'string' ? finalSchemas[schema.$ref.slice(REF.length)] : schema;
    return isObject(target) && typeof target['x-media-type'] === 'string' ? target['x-media-type'] : undefined;
  };
  const operationIds = new Set<string>();
  for (const pathItem of Object.values(isObject(renamed.paths) ? renamed.paths : {})) {
    for (const [method, op] of Object.entries(isObject(pathItem) ? pathItem : {})) {
      if (METHODS.has(method) && isObject(op) && typeof op.operationId === 'string') operationIds.add(op.operationId);
    }
  }

  // 2.–4. responses, problem documents, request examples; 5. tags
  const declaredTags = new Set((Array.isArray(renamed.tags) ? renamed.tags : []).map((t) => (isObject(t) ? t.name : undefined)));
  const extraTags: string[] = [];
  for (const pathItem of Object.values(isObject(renamed.paths) ? renamed.paths : {})) {
    if (!isObject(pathItem)) continue;
    for (const [method, op] of Object.entries(pathItem)) {
      if (!METHODS.has(method) || !isObject(op)) continue;
      for (const t of Array.isArray(op.tags) ? op.tags : []) {
        if (typeof t === 'string' && !declaredTags.has(t) && !extraTags.includes(t)) extraTags.push(t);
      }
      const etag = op[ETAG_MARK] === true;
      delete op[ETAG_MARK];
      for (const [status, response] of Object.entries(isObject(op.responses) ? op.responses : {})) {
        if (!isObject(response)) continue;
        if (etag && (status === '200' || status === '201')) response.headers = { ...(isObject(response.headers) ? response.headers : {}), ETag: ETAG_HEADER };
        if (typeof response.description !== 'string' || response.description === '' || response.description === 'Default Response') {
          response.description = STATUS_CODES[status] ?? (status === 'default' ? 'Error' : `HTTP ${status}`);
        }
        const content = isObject(response.content) ? response.content : undefined;
        const json = content && isObject(content['application/json']) ? content['application/json'] : undefined;
        const mediaType = json ? mediaTypeOf(json.schema) : undefined;
        if (mediaType) response.content = { [mediaType]: json! };
        if (status === '202' && json && json.schema && isObject(json.schema) && json.schema.$ref === REF + TASK) {
          const links = Object.entries(TASK_LINKS).filter(([id]) => operationIds.has(id))
            .map(([operationId, description]): [string, Json] => [operationId, { operationId, parameters: { id: '$response.body#/id' }, description }]);
          if (links.length > 0) response.links = Object.fromEntries(links);
        }
        const code = Number(status);
        const isError = status === 'default' || /^[45]XX$/i.test(status) || (Number.isInteger(code) && code >= 400);
        if (isError && content && isObject(content['application/json']) && isProblemSchema(content['application/json'].schema, finalSchemas)) {
          response.content = { 'application/problem+json': content['application/json'], ...Object.fromEntries(
            Object.entries(content).filter(([type]) => type !== 'application/json')) };
        }
      }
      const body = isObject(op.requestBody) ? op.requestBody : undefined;
      const media = body && isObject(body.content) ? body.content['application/json'] : undefined;
      if (isObject(media) && !('example' in media) && !('examples' in media)) {
        const e = derive(media.schema, finalSchemas);
        if (e !== undefined) media.example = e.value;
      }
    }
  }
  dropSafeIntegerBounds(renamed);
  for (const schema of Object.values(finalSchemas)) if (isObject(schema)) delete schema['x-media-type'];
  if (extraTags.length > 0) {
    const declared = (Array.isArray(renamed.tags) ? renamed.tags : []);
    const described = new Map<string, string>();
    for (const t of declared) if (isObject(t) && typeof t.name === 'string' && typeof t.description === 'string') described.set(t.name, t.description);
    const describe = (name: string): Json => {
      const base = name.endsWith(NAMESPACE_TAG_SUFFIX) ? name.slice(0, -NAMESPACE_TAG_SUFFIX.length) : undefined;
      const text = base !== undefined
        ? `${described.get(base) ?? TAG_DESCRIPTIONS[base] ?? base}, in an RBD namespace: the operations of "${base}" under /api/v1/pools/{pool}/namespaces/{namespace}`
        : TAG_DESCRIPTIONS[name];
      return text ? { name, description: text } : { name };
    };
    const twin = (name: string) => name.endsWith(NAMESPACE_TAG_SUFFIX);
    const bases = [...declared.map((t) => (isObject(t) ? String(t.name) : '')), ...extraTags.filter((n) => !twin(n))];
    const rank = (name: string) => bases.indexOf(name.slice(0, -NAMESPACE_TAG_SUFFIX.length));
    const twins = extraTags.filter(twin).sort((a, b) => rank(a) - rank(b));
    renamed.tags = [...declared, ...extraTags.filter((n) => !twin(n)).map(describe), ...twins.map(describe)];
  }
  return renamed;
}

/** Removes minimum/maximum where they are exactly zod's ±Number.MAX_SAFE_INTEGER of an unbounded integer. */
function dropSafeIntegerBounds(node: Json): void {
  if (Array.isArray(node)) { for (const n of node) dropSafeIntegerBounds(n); return; }
  if (!isObject(node)) return;
  if (node.minimum === -Number.MAX_SAFE_INTEGER && node.maximum === Number.MAX_SAFE_INTEGER) {
    delete node.minimum;
    delete node.maximum;
  }
  for (const v of Object.values(node)) dropSafeIntegerBounds(v);
}
