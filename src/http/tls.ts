// HTTPS: the certificate and key (PEM) from TLS_CERT_FILE / TLS_KEY_FILE, optionally client certificates
// checked against TLS_CA_FILE. The files are validated at start (a missing, unreadable or bad file, or a key that
// does not belong to the certificate, stops the start with a message naming the variable) and re-read when they
// change — a Kubernetes Secret update swaps the `..data` symlink of the mounted directory, cert-manager rewrites
// the Secret — through fs.watch on the files' directories plus a polling fallback. A new pair is installed with
// server.setSecureContext: connections already open keep theirs, new ones get the new certificate, nothing is
// dropped. A pair that does not validate (say the certificate was updated before the key) is logged and the
// previous one kept until a good pair appears.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { Gauge, type Registry } from 'prom-client';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle for client certificates; unset = no client certificates */
  ca?: string | undefined;
}

export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}

/** What was loaded: the PEM material and facts about the certificate (for logs, metrics and tests). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer | undefined;
  subject: string;
  serialNumber: string;
  fingerprint256: string;
  validFrom: Date;
  validTo: Date;
  /** sha256 over the three files: changes when any of them changes */
  digest: string;
}

function read(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new TlsError(`${variable} ${path}: cannot read it (${code})`);
  }
}

/** Read and validate the files; throws TlsError naming the variable and the problem. */
export function loadTls(files: TlsFiles): TlsMaterial {
  const cert = read('TLS_CERT_FILE', files.cert);
  const key = read('TLS_KEY_FILE', files.key);
  const ca = files.ca ? read('TLS_CA_FILE', files.ca) : undefined;
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new TlsError(`TLS_CERT_FILE ${files.cert}: no PEM certificate in it`);
  if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(key.toString('latin1'))) {
    throw new TlsError(`TLS_KEY_FILE ${files.key}: no PEM private key in it`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new TlsError(`TLS_CERT_FILE ${files.cert}: not a valid certificate (${(e as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    const m = (e as Error).message;
    throw new TlsError(`TLS_KEY_FILE ${files.key}: not a usable private key (${/passphrase/i.test(m) ? 'encrypted keys are not supported' : m})`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsError(`TLS_KEY_FILE ${files.key} does not belong to the certificate in TLS_CERT_FILE ${files.cert}`);
  }
  if (ca) {
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new TlsError(`TLS_CA_FILE ${files.ca}: no PEM certificate in it`);
    try {
      new X509Certificate(ca);
    } catch (e) {
      throw new TlsError(`TLS_CA_FILE ${files.ca}: not a valid certificate (${(e as Error).message})`);
    }
  }
  try {
    createSecureContext(contextOptions({ cert, key, ca }));
  } catch (e) {
    throw new TlsError(`TLS_CERT_FILE/TLS_KEY_FILE: OpenSSL refuses the pair (${(e as Error).message})`);
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).update('\0').update(ca ?? '').digest('hex');
  return {
    cert, key, ca,
    subject: x509.subject.replace(/\n/g, ', '),
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
    digest,
  };
}

function contextOptions(m: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/**
 * Options for the HTTPS server. With a CA, a client certificate is requested but the handshake is not refused
 * without one (rejectUnauthorized: false): probes and /metrics stay reachable (the kubelet presents no
 * certificate), and the API routes answer 401 unless the certificate verified (plugins/client-certificates.ts).
 */
export function httpsOptions(m: TlsMaterial): ServerOptions {
  return { ...contextOptions(m), ...(m.ca ? { requestCert: true, rejectUnauthorized: false } : {}) };
}

/** The server end of reloading: a tls.Server (https.Server is one). */
export interface SecureContextTarget { setSecureContext(options: SecureContextOptions): void }

export interface TlsReloadLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TlsReloaderOptions {
  /** polling fallback (fs.watch misses events on some filesystems); 0 = no polling */
  intervalMs: number;
  /** watch the files' directories (default true) */
  watch?: boolean;
  /** called after a new pair is in place */
  onReload?: (m: TlsMaterial) => void;
}

/** facts about a certificate for a log line */
export const describeCertificate = (m: TlsMaterial) => ({
  subject: m.subject, serial: m.serialNumber, fingerprint256: m.fingerprint256, notAfter: m.validTo.toISOString(),
});

/** Watches the files and installs a changed, valid pair on the server without a restart. */
export class TlsReloader {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  constructor(private readonly files: TlsFiles, private readonly server: SecureContextTarget, public current: TlsMaterial,
    private readonly logger: TlsReloadLogger, private readonly opts: TlsReloaderOptions) {}

  start(): void {
    if (this.opts.watch !== false) {
      const dirs = new Set([this.files.cert, this.files.key, ...(this.files.ca ? [this.files.ca] : [])].map((f) => dirname(f)));
      for (const dir of dirs) {
        try {
          const w = watch(dir, { persistent: false }, () => this.soon());
          w.on('error', () => { /* the directory went away (volume remounted): polling still runs */ });
          this.watchers.push(w);
        } catch { /* no inotify here: polling only */ }
      }
    }
    if (this.opts.intervalMs > 0) {
      this.timer = setInterval(() => this.check('poll'), this.opts.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** several events arrive for one update (symlink swap, then removal of the old directory): settle first */
  private soon(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check('file changed'), 100);
    this.debounce.unref();
  }

  /** Re-read the files; install them if they changed and are valid. Returns true when a new pair went in. */
  check(why: string): boolean {
    let next: TlsMaterial;
    try {
      next = loadTls(this.files);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (message !== this.lastError) {
        this.lastError = message;
        this.logger.error({ err: message, why }, 'TLS files changed but are not usable; still serving the previous certificate');
      }
      return false;
    }
    this.lastError = undefined;
    if (next.digest === this.current.digest) return false;
    this.server.setSecureContext(contextOptions(next));
    const previous = this.current;
    this.current = next;
    this.logger.info({ why, ...describeCertificate(next), previousSerial: previous.serialNumber }, 'TLS certificate reloaded');
    this.opts.onReload?.(next);
    return true;
  }
}

/** rbdapi_tls_certificate_not_after_seconds: when the certificate being served expires (alert well before). */
export function tlsExpiryGauge(registry: Registry, reloader: Pick<TlsReloader, 'current'>): void {
  new Gauge({
    name: 'rbdapi_tls_certificate_not_after_seconds',
    help: 'Expiry (Unix time) of the TLS certificate being served',
    registers: [registry],
    collect() { this.set(Math.floor(reloader.current.validTo.getTime() / 1000)); },
  });
}
