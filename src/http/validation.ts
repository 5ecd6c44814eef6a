// zod's issues as the `errors` of a 400 VALIDATION_FAILED: each names the field (`body.size`,
// `querystring.force`) and says what is wrong with it. Two things zod leaves generic are made precise here,
// for every schema at once:
//   - a union none of whose branches matched (an image body is an image spec or a clone spec) is one issue
//     "Invalid input" at the union's own path; the branch the input was most likely meant for is chosen and
//     its issues are reported instead (or, when every branch refused the value's type, "expected A or B");
//   - unknown keys of a strict object are one issue at the object's path; each key becomes its own error at
//     its own path ("querystring.force: unknown query parameter; this route takes: confirm").
// A missing required field says "is required" rather than "expected string, received undefined".
import { invalidField, validationDetail, type FieldError } from './errors.js';

export { invalidField, validationDetail, type FieldError };

/** What zod reports (and fastify-type-provider-zod passes on in `params`), as far as it is read here. */
interface Issue {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  keys?: readonly string[];
  errors?: readonly (readonly Issue[])[];
  expected?: string;
}

/** One entry of Fastify's `err.validation` made by fastify-type-provider-zod's validator compiler. */
export interface ValidationEntry {
  keyword: string;
  instancePath: string;
  message?: string | undefined;
  params?: Record<string, unknown> | undefined;
}

const GENERIC = /^Invalid input$/;
const MISSING = /^Invalid input: expected \w+, received undefined$/;
const WRONG_TYPE = /^Invalid input: expected (\w+), received (\w+)$/;

function fromEntry(e: ValidationEntry): Issue {
  const path = e.instancePath === '/' || e.instancePath === '' ? [] : e.instancePath.slice(1).split('/');
  return { ...(e.params as Partial<Issue> | undefined), code: e.keyword, path, message: e.message ?? '' };
}

/** How badly a branch fits: keys it does not know or a value of the wrong type at its root say "not meant". */
function misfit(issues: readonly Issue[]): number {
  let score = 0;
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') score += 10 * (i.keys?.length ?? 1);
    else if (i.code === 'invalid_type' && i.path.length === 0) score += 20;
    else if (i.code === 'invalid_type' && MISSING.test(i.message)) score += 5;
    else score += 1;
  }
  return score;
}

/** Every branch refused the value itself for its type: "expected number or string, received boolean". */
function typeMismatch(branches: readonly (readonly Issue[])[]): string | undefined {
  const expected: string[] = [];
  let received: string | undefined;
  for (const b of branches) {
    const root = b.length === 1 && b[0]!.path.length === 0 ? WRONG_TYPE.exec(b[0]!.message) : null;
    if (!root) return undefined;
    if (!expected.includes(root[1]!)) expected.push(root[1]!);
    received = root[2];
  }
  return received === 'undefined' ? 'is required' : `expected ${expected.join(' or ')}, received ${received}`;
}

function flatten(issue: Issue, base: readonly PropertyKey[], out: { path: PropertyKey[]; message: string; code: string }[]): void {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && GENERIC.test(issue.message) && issue.errors?.length) {
    const merged = typeMismatch(issue.errors);
    if (merged) { out.push({ path, message: merged, code: 'invalid_type' }); return; }
    // the best-fitting branch; on a tie the first (a union lists its plain form first)
    let best = issue.errors[0]!;
    for (const b of issue.errors) if (misfit(b) < misfit(best)) best = b;
    for (const i of best) flatten(i, path, out);
    return;
  }
  if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
    for (const k of issue.keys) out.push({ path: [...path, k], message: issue.message, code: issue.code });
    return;
  }
  let message = issue.message;
  if (issue.code === 'invalid_type' && MISSING.test(message)) message = 'is required';
  else if (issue.code === 'invalid_type') message = message.replace(/^Invalid input: /, '');
  else if (issue.code === 'invalid_value') message = message.replace(/^Invalid option: /, '');
  out.push({ path, message, code: issue.code });
}

/** ["source", "snapshot"] → "source.snapshot"; a key that is not a plain word is quoted: ["a.b"] → '["a.b"]', [""] → '[""]'. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    const key = String(p);
    out += /^[A-Za-z0-9_$-]+$/.test(key) ? `${out ? '.' : ''}${key}` : `[${JSON.stringify(key)}]`;
  }
  return out.slice(0, 200);
}

/**
 * The errors of a failed validation of one request part. `knownKeys`: the keys the part's schema takes (for
 * "unknown query parameter; this route takes: …"). Bounded: at most `limit` errors, each message ≤ 300 chars.
 */
export function validationErrors(part: string, entries: readonly ValidationEntry[], knownKeys?: readonly string[], limit = 20): FieldError[] {
  const flat: { path: PropertyKey[]; message: string; code: string }[] = [];
  for (const e of entries.slice(0, limit)) flatten(fromEntry(e), [], flat);
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  for (const f of flat) {
    const path = formatPath(f.path);
    let message = f.message || 'is not valid';
    if (f.code === 'unrecognized_keys') {
      const what = part === 'querystring' ? 'query parameter' : 'field';
      const known = knownKeys?.length ? `this route takes: ${knownKeys.join(', ')}` : part === 'querystring' ? 'this route takes none' : '';
      message = `unknown ${what}${known ? `; ${known}` : ''}`;
    }
    message = message.slice(0, 300);
    const key = `${path}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push({ in: part, path, message });
    if (errors.length >= limit) break;
  }
  return errors;
}

