// Image pull secret generator: the .dockerconfigjson that `kubectl create secret docker-registry` writes,
// without kubectl or a cluster.
//
//   npx tsx scripts/pull-secret.ts --server registry.example.com --username robot --password-stdin <pw.txt
//       prints {"auths":{"registry.example.com":{"username":"robot","password":"…","auth":"<base64 robot:…>"}}}
//       (what podman/skopeo/buildah --authfile, docker's config.json and the kubelet read)
//   … --secret regcred --namespace rbd-rest-api            a Secret manifest (YAML) of type
//       kubernetes.io/dockerconfigjson with the JSON above base64-encoded under data[".dockerconfigjson"]
//   … --secret regcred --namespace rbd-rest-api --format json   the same Secret as JSON, ready for
//       `kubectl apply -f -` or a POST to /api/v1/namespaces/<ns>/secrets
//
// The password comes from --password-stdin (recommended), $REGISTRY_PASSWORD, or --password (visible in
// `ps` and shell history). --email is optional (kubectl omits it when empty). The JSON has the same keys in
// the same order as kubectl's (username, password, email, auth), so the output is byte-for-byte what
// `kubectl create secret docker-registry --dry-run=client -o jsonpath='{.data.\.dockerconfigjson}' | base64 -d`
// prints.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** kubectl's default --docker-server */
export const DEFAULT_SERVER = 'https://index.docker.io/v1/';

export interface DockerConfigEntry {
  username?: string;
  password?: string;
  email?: string;
  auth?: string;
}

export interface DockerConfigJson {
  auths: Record<string, DockerConfigEntry>;
}

export interface PullSecretOptions {
  server?: string;
  username: string;
  password: string;
  email?: string;
}

/** The .dockerconfigjson document, built like kubectl does (empty fields are omitted, `auth` = base64(user:password)). */
export function dockerConfigJson(o: PullSecretOptions): DockerConfigJson {
  if (!o.username) throw new Error('a username is required');
  if (!o.password) throw new Error('a password is required');
  if (o.username.includes(':')) throw new Error('the username must not contain ":" (the auth field is user:password)');
  const entry: DockerConfigEntry = { username: o.username, password: o.password };
  if (o.email) entry.email = o.email;
  entry.auth = Buffer.from(`${o.username}:${o.password}`, 'utf8').toString('base64');
  return { auths: { [o.server || DEFAULT_SERVER]: entry } };
}

/** Serialised exactly as kubectl stores it: compact JSON, no trailing newline. */
export function dockerConfigJsonText(o: PullSecretOptions): string {
  return JSON.stringify(dockerConfigJson(o));
}

export interface SecretManifest {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  type: 'kubernetes.io/dockerconfigjson';
  data: { '.dockerconfigjson': string };
}

/** A Secret of type kubernetes.io/dockerconfigjson holding the document above. */
export function pullSecretManifest(name: string, namespace: string | undefined, o: PullSecretOptions): SecretManifest {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    throw new Error(`"${name}" is not a valid Secret name (lower-case DNS subdomain)`);
  }
  const metadata: SecretManifest['metadata'] = { name };
  if (namespace) metadata.namespace = namespace;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(dockerConfigJsonText(o), 'utf8').toString('base64') },
  };
}

/** YAML for the Secret (every value is a plain scalar or quoted, so no YAML library is needed). */
export function secretYaml(s: SecretManifest): string {
  const lines = ['apiVersion: v1', 'kind: Secret', 'metadata:', `  name: ${s.metadata.name}`];
  if (s.metadata.namespace) lines.push(`  namespace: ${s.metadata.namespace}`);
  lines.push(`type: ${s.type}`, 'data:', `  .dockerconfigjson: ${s.data['.dockerconfigjson']}`);
  return `${lines.join('\n')}\n`;
}

const USAGE = `usage: npx tsx scripts/pull-secret.ts --server HOST[:PORT] --username USER
         (--password-stdin | --password PASS | $REGISTRY_PASSWORD) [--email ADDR]
         [--secret NAME [--namespace NS] [--format yaml|json]]`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // like `docker login --password-stdin`: one trailing newline is not part of the password
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string', default: DEFAULT_SERVER },
        username: { type: 'string' },
        password: { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        'password-file': { type: 'string' },
        email: { type: 'string' },
        secret: { type: 'string' },
        namespace: { type: 'string' },
        format: { type: 'string', default: 'yaml' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`pull-secret: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let password = values.password ?? process.env.REGISTRY_PASSWORD;
  if (values['password-stdin']) password = await readStdin();
  else if (values['password-file']) password = readFileSync(values['password-file'], 'utf8').replace(/\r?\n$/, '');
  if (!values.username || !password) {
    process.stderr.write(`pull-secret: --username and a password are required\n${USAGE}\n`);
    return 2;
  }
  if (values.format !== 'yaml' && values.format !== 'json') {
    process.stderr.write(`pull-secret: --format must be yaml or json\n`);
    return 2;
  }
  const opts: PullSecretOptions = { server: values.server, username: values.username, password, email: values.email };
  try {
    if (!values.secret) {
      process.stdout.write(`${dockerConfigJsonText(opts)}\n`);
    } else {
      const secret = pullSecretManifest(values.secret, values.namespace, opts);
      process.stdout.write(values.format === 'json' ? `${JSON.stringify(secret, null, 2)}\n` : secretYaml(secret));
    }
  } catch (e) {
    process.stderr.write(`pull-secret: ${(e as Error).message}\n`);
    return 2;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
