// Every C function is bound once in src/native (one koffi `lib.func('<C prototype>')` per function, in the file
// of its concept), and each binding has the C prototype it wraps quoted in the comment right above it.
// Two ways to see the bindings: at run time, by loading every module of src/native with the koffi libraries
// wrapped (this catches a binding in any form), and in the source text (this finds the comment above each).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const NATIVE = join(import.meta.dirname, '../../src/native');

/** What the wrapped libraries were asked to bind while the modules loaded: the C function name of each. */
const bound = vi.hoisted(() => [] as string[]);

vi.mock('../../src/native/library.js', async (importOriginal) => {
  const lib = await importOriginal<typeof import('../../src/native/library.js')>();
  /** A library whose func() records the function name before binding it. */
  const wrap = <T extends object>(handle: T): T => new Proxy(handle, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      if (prop !== 'func') return value.bind(target);
      return (...args: unknown[]) => {
        bound.push(functionName(String(args[0])) ?? String(args[0]));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const koffi = new Proxy(lib.koffi, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'load') return (...args: unknown[]) => wrap((value as (...a: unknown[]) => object)(...args));
      return value;
    },
  });
  return { ...lib, koffi, librados: wrap(lib.librados), librbd: wrap(lib.librbd) };
});

/** `int rbd_open(rados_ioctx_t io, …)` → "rbd_open"; undefined when the text is not a C prototype. */
function functionName(prototype: string): string | undefined {
  return /([A-Za-z_]\w*)\s*\(/.exec(prototype)?.[1];
}

/** How many parameters the prototype of `name` in `text` declares (`(void)` and `()` are 0), or undefined. */
function parameterCount(text: string, name: string): number | undefined {
  const m = new RegExp(`\\b${name}\\s*\\(`).exec(text);
  if (!m) return undefined;
  let depth = 1, count = 0, content = '';
  for (let i = m.index + m[0].length; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) {
      const params = content.trim();
      return params === '' || params === 'void' ? 0 : count + 1;
    } else if (ch === ',' && depth === 1) count++;
    content += ch;
  }
  return undefined;
}

interface SourceBinding { file: string; line: number; name: string | undefined; prototype: string; comment: string }

const isCommentLine = (line: string): boolean => /^\s*(\/\/|\/\*|\*)/.test(line) || /\*\/\s*$/.test(line);

/** Every `.func(…)` call in the source files of src/native: its prototype string and the comment above it. */
function sourceBindings(): SourceBinding[] {
  const out: SourceBinding[] = [];
  for (const file of readdirSync(NATIVE).filter((f) => f.endsWith('.ts')).sort()) {
    const text = readFileSync(join(NATIVE, file), 'utf8');
    const lines = text.split('\n');
    for (const m of text.matchAll(/\.func\(/g)) {
      const lineIndex = text.slice(0, m.index).split('\n').length - 1;
      if (isCommentLine(lines[lineIndex]!)) continue;
      // the prototype: string literals joined with +, up to the first thing that is not one
      let i = m.index + m[0].length, prototype = '';
      for (;;) {
        while (i < text.length && /[\s+]/.test(text[i]!)) i++;
        const quote = text[i];
        if (quote !== "'" && quote !== '"' && quote !== '`') break;
        const end = text.indexOf(quote, i + 1);
        prototype += text.slice(i + 1, end);
        i = end + 1;
      }
      const comment: string[] = [];
      for (let l = lineIndex - 1; l >= 0 && isCommentLine(lines[l]!); l--) comment.unshift(lines[l]!);
      out.push({ file, line: lineIndex + 1, name: functionName(prototype), prototype, comment: comment.join('\n') });
    }
  }
  return out;
}

const duplicates = (names: readonly string[]): string[] =>
  [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].sort();

describe('native bindings: one per C function, each under its quoted C prototype', () => {
  const source = sourceBindings();

  it('every module of src/native loads, and no C function is bound twice while they do', async () => {
    const modules = readdirSync(NATIVE).filter((f) => f.endsWith('.ts'));
    for (const f of modules) await import(join(NATIVE, f));
    expect(bound.length).toBeGreaterThan(100); // the wrapped libraries saw the bindings
    expect(duplicates(bound), 'C functions bound more than once at load').toEqual([]);
    // every binding made at load is one the source scan below checks
    const scanned = new Set(source.map((b) => b.name));
    expect(bound.filter((n) => !scanned.has(n)), 'bound at load but not found as .func(\'<prototype>\') in the source').toEqual([]);
  });

  it('each binding is a C prototype string', () => {
    const bad = source.filter((b) => !b.name || !b.prototype.includes(')')).map((b) => `${b.file}:${b.line}`);
    expect(bad, 'bind with lib.func(\'<C prototype>\')').toEqual([]);
  });

  it('no C function is bound in two places', () => {
    const names = source.map((b) => b.name!);
    const where = (name: string): string => source.filter((b) => b.name === name).map((b) => `${b.file}:${b.line}`).join(', ');
    expect(duplicates(names).map((n) => `${n} (${where(n)})`)).toEqual([]);
  });

  it('the comment right above each binding quotes its C prototype, with as many parameters', () => {
    const bad: string[] = [];
    for (const b of source) {
      if (!b.name) continue;
      const quoted = parameterCount(b.comment, b.name);
      const declared = parameterCount(b.prototype, b.name);
      if (quoted === undefined) bad.push(`${b.file}:${b.line} ${b.name}: no "${b.name}(…)" in the comment above`);
      else if (quoted !== declared) bad.push(`${b.file}:${b.line} ${b.name}: ${quoted} parameters quoted, ${declared} bound`);
    }
    expect(bad).toEqual([]);
  });
});
