/**
 * Renewal information (RFC 9773). The certID is base64url(AKI keyIdentifier) "." base64url(serial
 * DER content) (§4.1). The suggested window comes from the certificate's lifetime (the profile's
 * `ari` shares); a revoked certificate's window lies in the past so clients renew at once, and
 * revocations made in the legacy system are learned from the connector when it can tell.
 */
import { base64url } from '../lib/base64url.js';
import { problem } from '../protocol/problem.js';
import { normalizeSerial } from '../protocol/serial.js';
import { hasRevocationStatus } from '../sdk/connector.js';
import { isConnectorError } from '../sdk/errors.js';
import type { CertificateRecord } from '../storage/store.js';
import type { RaDeps } from './deps.js';
import type { ProfileRuntime } from './profiles.js';

/** The DER content octets of a positive INTEGER whose value is `hex`. */
function serialContent(hex: string): Uint8Array {
  let h = normalizeSerial(hex);
  if (h.length % 2) h = `0${h}`;
  if (parseInt(h.slice(0, 1), 16) >= 8) h = `00${h}`;
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function certId(authorityKeyId: string, serialHex: string): string {
  return `${authorityKeyId}.${base64url.encode(serialContent(serialHex))}`;
}

export interface ParsedCertId {
  authorityKeyId: string;
  serial: string;
}

export function parseCertId(text: string): ParsedCertId {
  const [aki, serial, ...rest] = text.split('.');
  const akiBytes = aki ? base64url.decode(aki) : undefined;
  const serialBytes = serial ? base64url.decode(serial) : undefined;
  if (rest.length > 0 || !akiBytes?.length || !serialBytes?.length) {
    throw problem.malformed(`"${text}" is not a certificate identifier (base64url AKI "." base64url serial, RFC 9773 §4.1)`);
  }
  return { authorityKeyId: base64url.encode(akiBytes), serial: normalizeSerial(Buffer.from(serialBytes).toString('hex')) };
}

export interface RenewalInfo {
  suggestedWindow: { start: string; end: string };
  explanationURL?: string;
  retryAfterSeconds: number;
}

const RETRY_AFTER_SECONDS = 6 * 3600;
const STATUS_CACHE_MS = 60_000;
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class RenewalInfoService {
  private readonly checked = new Map<string, number>();

  constructor(private readonly deps: Pick<RaDeps, 'store' | 'clock' | 'log'>) {}

  /** The certificate a certID names under this profile, or a 404 problem. */
  async find(profile: ProfileRuntime, id: string): Promise<CertificateRecord> {
    const parsed = parseCertId(id);
    const cert = await this.deps.store.findCertificateBySerial(parsed.serial);
    if (!cert || cert.profile !== profile.name || cert.authorityKeyId !== parsed.authorityKeyId) throw problem.notFound(`certificate ${id}`);
    return cert;
  }

  /** §4.2: the suggested window, moved into the past once the certificate is revoked. */
  async renewalInfo(profile: ProfileRuntime, id: string): Promise<RenewalInfo> {
    const cert = await this.refreshRevocation(profile, await this.find(profile, id));
    const now = this.deps.clock.now();
    if (cert.revokedAt) {
      // Revoked: renew now. The window ends before the moment of revocation, so it is in the past.
      const end = new Date(Math.min(cert.revokedAt.getTime(), now.getTime()) - 1000);
      return { suggestedWindow: { start: iso(new Date(end.getTime() - 3600_000)), end: iso(end) }, retryAfterSeconds: 3600 };
    }
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    const { windowStart, windowEnd } = profile.config.ari;
    const start = new Date(cert.notAfter.getTime() - life * windowStart);
    const end = new Date(cert.notAfter.getTime() - life * windowEnd);
    return { suggestedWindow: { start: iso(start), end: iso(end) }, retryAfterSeconds: RETRY_AFTER_SECONDS };
  }

  /** Asks the backend whether an officer revoked the certificate there (at most once a minute per certificate); records it when so. */
  private async refreshRevocation(profile: ProfileRuntime, cert: CertificateRecord): Promise<CertificateRecord> {
    if (cert.revokedAt || !hasRevocationStatus(profile.connector)) return cert;
    if ((this.checked.get(cert.id) ?? 0) > this.deps.clock.now().getTime()) return cert;
    try {
      return await this.learnRevocation(profile, cert, AbortSignal.timeout(10_000));
    } catch (e) {
      if (!isConnectorError(e)) throw e;
      this.deps.log.warn({ err: e, serial: cert.serial }, 'backend revocation status unavailable; answering from the gateway record');
      return cert;
    }
  }

  /**
   * Asks the certificate's connector whether it was revoked in the backend (by an officer, say) and
   * records the revocation when so: the one code path for this, used by renewalInfo (behind the
   * one-minute cache) and by the status poller (revocation-poller.ts). A certificate already revoked,
   * or of a connector that cannot tell, comes back as it is. Throws what the connector throws.
   */
  async learnRevocation(profile: ProfileRuntime, cert: CertificateRecord, signal: AbortSignal): Promise<CertificateRecord> {
    if (cert.revokedAt || !hasRevocationStatus(profile.connector)) return cert;
    const now = this.deps.clock.now();
    this.checked.delete(cert.id);
    this.checked.set(cert.id, now.getTime() + STATUS_CACHE_MS);
    if (this.checked.size > 50_000) this.checked.delete(this.checked.keys().next().value as string);
    const status = await profile.connector.certificateStatus(cert.serial, cert.issuer, signal);
    if (!status.revoked) return cert;
    const revokedAt = status.revokedAt ?? now;
    const reason = status.reason ?? 0;
    // Re-read inside the transaction, so what changed meanwhile (replacedBy, a revocation through
    // ACME or by another instance) is kept rather than overwritten by the copy read before the call.
    const recorded = await this.deps.store.transaction(async (tx) => {
      const current = await tx.getCertificate(cert.id);
      if (!current || current.revokedAt) return { record: current, learned: false };
      const next: CertificateRecord = { ...current, revokedAt, revocationReason: reason };
      await tx.updateCertificate(next);
      return { record: next, learned: true };
    });
    if (recorded.learned) this.deps.log.info({ serial: cert.serial, reason }, 'revocation learned from the backend');
    return recorded.record ?? cert;
  }
}
