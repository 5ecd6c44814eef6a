// Builds the publishable client package (client/): ESM JavaScript and .d.ts in client/dist from client/*.ts,
// with the generated client/schema.d.ts beside them (tsc does not copy declaration files). Refuses a client
// whose version is not the service's (package.json): the client is versioned with the API it types.
// `npm run client:build`; `npm pack` in client/ runs it first (prepack).
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = (file) => JSON.parse(readFileSync(join(root, file), 'utf8')).version;
if (version('client/package.json') !== version('package.json')) {
  console.error(`client/package.json version ${version('client/package.json')} is not the service's ${version('package.json')}: set it to match`);
  process.exit(1);
}
rmSync(join(root, 'client/dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'client/tsconfig.json')], { stdio: 'inherit' });
copyFileSync(join(root, 'client/schema.d.ts'), join(root, 'client/dist/schema.d.ts'));
console.log(`client/dist: @rbd-rest-api/client ${version('client/package.json')}`);
