/**
 * The listener's own TLS on the embedded default: a certificate for localhost, 127.0.0.1, ::1 and
 * the configured names, issued by the built-in CA and renewed at start when names change or it
 * nears expiry; and the CA bundle file clients are told to trust.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { EmbeddedConfigSchema, issueServerCertificate, loadOrCreateCa, type CertificateAuthority } from '../../connectors/embedded/index.js';
import type { Clock } from '../lib/clock.js';
import type { Random } from '../lib/random.js';

const TLS_VALIDITY_DAYS = 365;
const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface ListenerTls {
  cert: string;
  key: string;
}

export const DEFAULT_TLS_NAMES = ['localhost', '127.0.0.1', '::1'];

function covers(certPem: string, names: readonly string[], now: Date): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return false;
    return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n, { wildcards: false }) !== undefined));
  } catch {
    return false;
  }
}

/** The CA that signs the listener certificate: the built-in CA's files under dataDir. */
export async function listenerCa(dataDir: string, clock: Clock, random: Random): Promise<CertificateAuthority> {
  // The built-in CA connector's own defaults, so both create the same CA whichever starts first.
  return loadOrCreateCa(path.join(dataDir, 'connectors', 'embedded'), EmbeddedConfigSchema.parse({ type: 'embedded' }), clock, random);
}

export async function ensureListenerTls(dataDir: string, ca: CertificateAuthority, names: readonly string[], now: Date): Promise<ListenerTls> {
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server.key.pem');
  const wanted = [...new Set([...DEFAULT_TLS_NAMES, ...names])];
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    if (covers(cert, wanted, now)) return { cert, key };
  } catch {
    // not there yet: made below
  }
  const issued = await issueServerCertificate(ca, wanted, TLS_VALIDITY_DAYS);
  const cert = `${issued.certPem.trimEnd()}\n${issued.chainPem.trimEnd()}\n`;
  await mkdir(dir, { recursive: true });
  await writeFile(keyFile, issued.keyPem, { mode: 0o600 });
  await writeFile(certFile, cert);
  return { cert, key: issued.keyPem };
}

/** Writes `${dataDir}/ca-bundle.pem`: every root a client of this gateway should trust. */
export async function writeCaBundle(dataDir: string, pems: readonly string[]): Promise<string> {
  const file = path.resolve(dataDir, 'ca-bundle.pem');
  const unique = [...new Set(pems.map((p) => `${p.trim()}\n`))];
  await writeFile(file, unique.join(''));
  return file;
}
