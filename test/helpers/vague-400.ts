// The rule every 400 follows: it names the field and the reason (fuzz-routes and fuzz run it on every answer).

/** Reasons that say nothing: a 400 must name the field and say what is wrong with it. */
const GENERIC = /^(Invalid input|Invalid|is not valid|Required|)$/i;

/**
 * Why a 400 does not name the field and the reason, or undefined when it does. Every VALIDATION_FAILED lists
 * its `errors`, each with a non-empty path — but for the request part itself of the wrong type ("body:
 * expected object, received string", "body: is not valid JSON", "url: is not valid …"), where the part is the
 * field — and a reason that is not generic.
 */
export function vague400(problem: { code?: string; detail?: string; errors?: { in?: string; path?: string; message?: string }[] }): string | undefined {
  if (typeof problem.detail !== 'string' || GENERIC.test(problem.detail.trim()) || /: Invalid input(;|$)/.test(problem.detail)) return 'a generic detail';
  if (problem.code !== 'VALIDATION_FAILED') return undefined;
  if (!Array.isArray(problem.errors) || problem.errors.length === 0) return 'no errors';
  for (const e of problem.errors) {
    if (!e.in) return 'an error without its request part';
    if (GENERIC.test(e.message ?? '')) return `a generic reason at ${e.in}.${e.path}`;
    if (!e.path && e.in !== 'url' && !/^(expected object, received|is required|is not valid JSON)/.test(e.message ?? '')) return `an empty path (${e.in}: ${e.message})`;
  }
  return undefined;
}
