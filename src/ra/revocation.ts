/**
 * revokeCert (RFC 8555 §7.6) under the rules enterprises use: the reason must be one the profile
 * allows, the certificate must be current and not yet revoked, and the requester must be the issuing
 * account, an account holding valid authorizations for all its names, or the holder of its key.
 * The revocation is carried out in the backend first, so its publishing and OCSP see it.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { toProblem } from '../issuance/errors.js';
import { problem } from '../protocol/problem.js';
import { normalizeSerial } from '../protocol/serial.js';
import { isRevocationReason, type Identifier } from '../protocol/types.js';
import { isConnectorError } from '../sdk/errors.js';
import type { SdkRevocationReason } from '../sdk/connector.js';
import type { AccountRecord, CertificateRecord } from '../storage/store.js';
import type { RaDeps } from './deps.js';
import type { AccountKeyLike } from './keys.js';
import type { ProfileRuntime } from './profiles.js';
import { thumbprintOfJwk } from './thumbprint.js';

export type Requester = { kind: 'account'; account: AccountRecord } | { kind: 'certificate-key'; key: AccountKeyLike };

export class Revocation {
  constructor(private readonly deps: RaDeps) {}

  async revoke(profile: ProfileRuntime, requester: Requester, certDer: Uint8Array, reason: number | undefined): Promise<CertificateRecord> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(certDer));
    } catch {
      throw problem.malformed('"certificate" is not a DER-encoded X.509 certificate');
    }
    const record = await this.deps.store.findCertificateBySerial(normalizeSerial(cert.serialNumber));
    if (!record || record.profile !== profile.name || !sameLeaf(record, cert)) throw problem.notFound('a certificate issued under this profile with that serial');

    const code = reason ?? 0;
    if (!isRevocationReason(code)) throw problem.badRevocationReason(`${String(reason)} is not an RFC 5280 reason code`);
    if (!profile.config.revocationReasons.includes(code)) {
      throw problem.badRevocationReason(`reason ${code} is not accepted here (accepted: ${profile.config.revocationReasons.join(', ')})`);
    }
    if (record.revokedAt) throw problem.alreadyRevoked();
    const now = this.deps.clock.now();
    if (record.notAfter.getTime() <= now.getTime()) throw problem.unauthorized('the certificate has expired; there is nothing to revoke');

    await this.checkRequester(requester, record, cert);

    try {
      await profile.connector.revoke({ serial: record.serial, issuer: record.issuer, reason: code as SdkRevocationReason }, AbortSignal.timeout(30_000));
    } catch (e) {
      if (!isConnectorError(e)) throw e;
      if (e.code !== 'already-revoked') throw toProblem(e);
      // Revoked in the backend already (by an officer): record it, and tell the client.
      await this.record(record, now, code);
      throw problem.alreadyRevoked('the certificate was already revoked in the backend');
    }
    const recorded = await this.record(record, now, code);
    if (!recorded.written) throw problem.alreadyRevoked();
    return recorded.record;
  }

  /**
   * Records the revocation on a copy read inside the write's transaction, so what changed while the
   * backend was asked (replacedBy from a replacing order, RFC 9773 §5) is kept. A revocation
   * recorded meanwhile (the poller, another instance) is kept as it is: `written` is then false.
   */
  private async record(record: CertificateRecord, now: Date, reason: number): Promise<{ record: CertificateRecord; written: boolean }> {
    const result = await this.deps.store.transaction(async (tx) => {
      const current = await tx.getCertificate(record.id);
      if (!current) throw new Error(`certificate ${record.id} disappeared while it was revoked`);
      if (current.revokedAt) return { record: current, written: false };
      const next: CertificateRecord = { ...current, revokedAt: now, revocationReason: reason };
      await tx.updateCertificate(next);
      return { record: next, written: true };
    });
    if (result.written) this.deps.log.info({ serial: record.serial, reason, profile: record.profile }, 'certificate revoked');
    else this.deps.log.info({ serial: record.serial, reason, profile: record.profile }, 'certificate revoked meanwhile by another path; its recorded revocation is kept');
    return result;
  }

  private async checkRequester(requester: Requester, record: CertificateRecord, cert: X509Certificate): Promise<void> {
    if (requester.kind === 'certificate-key') {
      // §7.6: signed with the certificate's own key: the JWK must be the certificate's public key.
      const certJwk = cert.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      if (thumbprintOfJwk(certJwk) !== requester.key.thumbprint) throw problem.unauthorized('the request is not signed by the certificate key');
      return;
    }
    const account = requester.account;
    if (account.id === record.accountId) return;
    const now = this.deps.clock.now();
    const missing: Identifier[] = [];
    for (const id of record.identifiers) {
      const base: Identifier = id.type === 'dns' && id.value.startsWith('*.') ? { type: 'dns', value: id.value.slice(2) } : id;
      const authzs = await this.deps.store.findValidAuthzs(account.id, base, now);
      if (authzs.length === 0) missing.push(id);
    }
    if (missing.length > 0) {
      throw problem.unauthorized(`the account neither issued this certificate nor holds valid authorizations for ${missing.map((i) => i.value).join(', ')}`);
    }
  }
}

function sameLeaf(record: CertificateRecord, cert: X509Certificate): boolean {
  const stored = new X509Certificate(record.chainPem);
  return createHash('sha256').update(stored.raw).digest('hex') === createHash('sha256').update(cert.raw).digest('hex');
}
