// The routes of the committed OpenAPI document, for tests that try every one of them (fuzz-routes,
// fuzz-tenants): a route added later is covered without editing those tests.
import { readFileSync } from 'node:fs';

export type Method = 'get' | 'put' | 'post' | 'patch' | 'delete';
export interface DocumentedRoute {
  /** the path template, e.g. /api/v1/pools/{pool}/images/{image} */
  template: string;
  method: Method;
  /** the template's parameter names, in order */
  params: string[];
}

const METHODS: readonly Method[] = ['get', 'put', 'post', 'patch', 'delete'];

export function documentedRoutes(): DocumentedRoute[] {
  const doc = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([template, ops]) => {
    const params = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    return METHODS.filter((m) => m in ops).map((method) => ({ template, method, params }));
  });
}

/** The template with each parameter replaced by `value(name)`. */
export function fillTemplate(template: string, value: (param: string) => string): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => value(name));
}
