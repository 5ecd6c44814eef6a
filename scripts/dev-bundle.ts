// `npm run dev`'s build: bundles src/main.ts into .dev/main.js (esbuild: no type check, ~0.1 s; packages stay
// in node_modules), and again on every change under src/, writing the bundle only when it changed — node
// --watch restarts the service on it. The directory is watched, not the files of the last build, so a file
// an editor replaces (atomic save) or a git checkout rewrites is seen too, and a build that failed is retried
// on the next change while the last good bundle keeps running. (.dev/ is one level below the project, so
// main.ts's ../package.json is the project's.)
//
//   tsx scripts/dev-bundle.ts --once    build once; exit 1 on an error
//   tsx scripts/dev-bundle.ts           build, then watch src/
import { context, type BuildContext } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const OUT = '.dev/main.js';

const ctx: BuildContext = await context({
  entryPoints: ['src/main.ts'], outfile: OUT, bundle: true, platform: 'node', format: 'esm', target: 'node20',
  packages: 'external', sourcemap: 'linked', write: false, logLevel: 'warning',
});

/** Writes the changed outputs (the map first: a restart reads the new code with its map). */
async function build(): Promise<boolean> {
  try {
    const result = await ctx.rebuild();
    const files = [...result.outputFiles ?? []].sort((a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')));
    for (const f of files) {
      if (existsSync(f.path) && readFileSync(f.path).equals(f.contents)) continue;
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileSync(f.path, f.contents);
    }
    return true;
  } catch {
    return false; // esbuild has printed the errors
  }
}

if (process.argv.includes('--once')) {
  const ok = await build();
  await ctx.dispose();
  process.exit(ok ? 0 : 1);
}

await build();
// changes come in bursts (a save, a checkout): one build 50 ms after the last, never two at once
let timer: NodeJS.Timeout | undefined;
let building: Promise<unknown> = Promise.resolve();
watch('src', { recursive: true }, () => {
  clearTimeout(timer);
  timer = setTimeout(() => { building = building.then(build); }, 50);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { void ctx.dispose().then(() => process.exit(0)); });
