// CLI for the provisioning hook:
//
//   RBD_API_URL=http://127.0.0.1:8080 RBD_API_TOKEN=… RBD_POOL=rbd \
//     npx tsx examples/provisioner/main.ts provision <claim.json      → the volume as JSON on stdout
//     npx tsx examples/provisioner/main.ts release   <claim.json      → {"deleted": true|false}
//   RBD_FLATTEN_CLONES=1: flatten clones once made (POST …/flatten under an Idempotency-Key)
//
// claim.json is a PersistentVolumeClaim (only metadata.name, metadata.namespace,
// spec.resources.requests.storage and spec.dataSource are read); `kubectl get pvc NAME -o json` fits.
// Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ProvisionError, Provisioner, type ClaimLike } from './provisioner.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, file] = argv;
  if (command !== 'provision' && command !== 'release') {
    process.stderr.write('usage: main.ts provision|release [claim.json] (default: stdin)\n');
    return 2;
  }
  const p = new Provisioner({
    baseUrl: env.RBD_API_URL ?? 'http://127.0.0.1:8080',
    ...(env.RBD_API_TOKEN ? { token: env.RBD_API_TOKEN } : {}),
    pool: env.RBD_POOL ?? 'rbd',
    ...(env.RBD_NAMESPACE ? { rbdNamespace: env.RBD_NAMESPACE } : {}),
    ...(env.RBD_FLATTEN_CLONES === '1' || env.RBD_FLATTEN_CLONES === 'true' ? { flattenClones: true } : {}),
    onRetry: ({ attempt, delayMs, reason }) => process.stderr.write(`retry ${attempt} in ${delayMs} ms (${reason})\n`),
  });
  try {
    const claim = JSON.parse(readFileSync(file ?? 0, 'utf8')) as ClaimLike;
    const out = command === 'provision' ? await p.provision(claim) : { deleted: await p.release(claim) };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${e instanceof ProvisionError || e instanceof SyntaxError ? e.message : String(e)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
