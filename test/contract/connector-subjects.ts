/**
 * The connectors the contract suite runs against, each started with its test double, and the
 * `backend` lever each one offers the suite (what an RA officer or a broken network does to it).
 * A subject lists its capabilities; the suite registers a case only for subjects that have what
 * the case needs, so nothing is ever reported as skipped.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, type webcrypto } from 'node:crypto';
import { embeddedConnector, caDirectory, type EmbeddedConnector } from '../../connectors/embedded/index.js';
import { EmbeddedStore } from '../../connectors/embedded/store.js';
import { normalizeSerial } from '../../connectors/embedded/mapping.js';
import { ejbcaWsConnector } from '../../connectors/ejbca-ws/index.js';
import { cfsslConnector } from '../../connectors/cfssl/index.js';
import type { AccountSummary, Connector, ConnectorDeps, IssueRequest, SdkIdentifier, SdkLogger, SdkRevocationReason, TemplateInfo, TemplateRef } from '../../src/sdk/index.js';
import { SeededRandom } from '../../src/lib/random.js';
import type { TestClock } from '../../src/lib/clock.js';
import { startEjbcaDouble } from '../fakes/ejbca-ws/server.js';
import { CFSSL_PROFILES, startCfsslBackend } from '../fakes/cfssl.js';
import { createDoubleCa, type DoubleCa } from '../fakes/ejbca-ws/ca.js';

x509.cryptoProvider.set(globalThis.crypto);

export type FailureMode = 'connection-refused' | 'http-500' | 'soap-fault' | 'store-closed';
export type BrokenCertificate = 'garbage' | 'unchained';

export interface Capabilities {
  /** The backend can hold a request for an officer's approval. */
  approvals: boolean;
  /** The connector implements RegistrationSync and the backend lets an officer disable and restrict registrations. */
  registrations: boolean;
  /** The backend can be made slower than the caller's deadline. */
  slowBackend: boolean;
  /** Ways the backend can be down; each must end as `unavailable`, and the backend recovers after heal(). */
  failureModes: readonly FailureMode[];
  /** Broken certificates the backend can be told to return once. */
  brokenCertificates: readonly BrokenCertificate[];
  /** Certificates can be revoked behind the connector's back (admin GUI, database). */
  outOfBandRevocation: boolean;
  /** The connector implements TemplateCatalog and the backend keeps templates with limits. */
  templates: boolean;
}

export interface Backend {
  approve(ticket: string): void;
  reject(ticket: string): void;
  /** From now on, new requests wait for one approval (or no longer do). */
  requireApproval(on: boolean): void;
  disableRegistration(id: string): void;
  enableRegistration(id: string): void;
  setAllowedNames(id: string, names: readonly string[]): void;
  revokeOutOfBand(serial: string, reason: SdkRevocationReason): Promise<void>;
  /** Holds every answer until heal(). */
  slow(): Promise<void>;
  fail(mode: FailureMode): Promise<void>;
  heal(): Promise<void>;
  breakNextCertificate(kind: BrokenCertificate): void;
  /** The templates the backend holds, as TemplateCatalog should report them (each once, in its order). */
  heldTemplates(): TemplateInfo[];
  /** Requests the double refused as not matching the wire format (must stay empty). */
  protocolErrors(): string[];
}

export interface Harness {
  /** The connector under test; a getter, since a backend restart may replace it. */
  readonly connector: Connector;
  backend: Backend;
  template: TemplateRef;
  stop(): Promise<void>;
}

export interface Subject {
  name: string;
  capabilities: Capabilities;
  start(opts: { clock: TestClock }): Promise<Harness>;
}

// ---------------------------------------------------------------- request helpers

export const BASE_URL = 'https://acme.example.test';

const nope = (subject: string, what: string) => (): never => {
  throw new Error(`${subject} has no ${what}; the suite should not have asked`);
};

export function quietLogger(): SdkLogger {
  const noop = () => undefined;
  return { debug: noop, info: noop, warn: noop, error: noop };
}

function deps(dataDir: string, clock: TestClock, name: string): ConnectorDeps {
  return { log: quietLogger(), clock, random: new SeededRandom(randomBytes(8).toString('hex')), dataDir, name, baseUrl: () => BASE_URL };
}

export function identifiers(names: readonly string[]): SdkIdentifier[] {
  return names.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'ip' : 'dns', value }));
}

/** A DER PKCS#10 request for `names` with a fresh P-256 key; `tamper` breaks its signature. */
export async function makeCsr(names: readonly string[], opts: { tamper?: boolean } = {}): Promise<Uint8Array> {
  const keys: webcrypto.CryptoKeyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [names[0] ?? 'unnamed'] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension(identifiers(names).map((i) => ({ type: i.type, value: i.value })))],
  });
  const der = new Uint8Array(csr.rawData);
  if (opts.tamper) der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01; // last byte of the signature's s
  return der;
}

export async function issueRequest(requestId: string, names: readonly string[], template: TemplateRef, opts: { registration?: string; csr?: Uint8Array; accountId?: string } = {}): Promise<IssueRequest> {
  const accountId = opts.accountId ?? 'acct-1';
  return {
    requestId,
    template,
    csr: opts.csr ?? (await makeCsr(names)),
    identifiers: identifiers(names),
    ...(opts.registration === undefined ? {} : { registration: { id: opts.registration } }),
    acme: { accountId, accountUrl: `${BASE_URL}/acme/default/acct/${accountId}`, orderId: requestId, orderUrl: `${BASE_URL}/acme/default/order/${requestId}`, profile: 'default' },
  };
}

export function account(accountId: string): AccountSummary {
  return { accountId, accountUrl: `${BASE_URL}/acme/default/acct/${accountId}`, profile: 'default', contact: [`mailto:ops+${accountId}@example.test`], jwkThumbprint: `thumb-${accountId}` };
}

// ---------------------------------------------------------------- embedded

const embedded: Subject = {
  name: 'embedded',
  capabilities: { approvals: false, registrations: false, slowBackend: false, failureModes: ['store-closed'], brokenCertificates: [], outOfBandRevocation: true, templates: false },
  async start({ clock }) {
    const dataDir = await mkdtemp(join(tmpdir(), 'contract-embedded-'));
    const config = embeddedConnector.configSchema.parse({ type: 'embedded' });
    const open = () => embeddedConnector.create(config, deps(dataDir, clock, 'embedded'));
    let connector: EmbeddedConnector = await open();
    const none = (what: string) => nope('embedded', what);
    return {
      get connector() {
        return connector;
      },
      template: { name: 'server', attributes: {} },
      backend: {
        approve: none('approvals'),
        reject: none('approvals'),
        requireApproval: none('approvals'),
        disableRegistration: none('registrations'),
        enableRegistration: none('registrations'),
        setAllowedNames: none('registrations'),
        slow: none('slow mode'),
        breakNextCertificate: none('broken certificates'),
        heldTemplates: none('template catalog'),
        // The embedded CA's "admin GUI" is its database: revoke there, as an operator with sqlite3 would.
        async revokeOutOfBand(serial, reason) {
          const store = new EmbeddedStore(caDirectory(dataDir, 'embedded'));
          try {
            if (store.revoke(normalizeSerial(serial), clock.now(), reason) !== 'revoked') throw new Error(`cannot revoke ${serial} out of band`);
          } finally {
            store.close();
          }
        },
        async fail(mode) {
          if (mode !== 'store-closed') throw new Error(`embedded cannot fail with ${mode}`);
          await connector.close();
        },
        async heal() {
          connector = await open(); // a restart: same directory, same CA and records
        },
        protocolErrors: () => [],
      },
      async stop() {
        await connector.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

// ---------------------------------------------------------------- ejbca-ws

export const EJBCA_ISSUING_PROFILE = 'ACME_SERVER';

/** The double's keys and certificates, made once per test file (about 0.3 s); each case still gets fresh state. */
let doubleCa: Promise<DoubleCa> | undefined;

const ejbcaWs: Subject = {
  name: 'ejbca-ws',
  capabilities: { approvals: true, registrations: true, slowBackend: true, failureModes: ['connection-refused', 'http-500', 'soap-fault'], brokenCertificates: ['garbage', 'unchained'], outOfBandRevocation: true, templates: true },
  async start({ clock }) {
    const double = await startEjbcaDouble({ clock, ca: await (doubleCa ??= createDoubleCa()) });
    const dir = await mkdtemp(join(tmpdir(), 'contract-ejbca-'));
    const files = { clientCert: join(dir, 'admin.pem'), clientKey: join(dir, 'admin.key'), caCert: join(dir, 'management-ca.pem') };
    await Promise.all([writeFile(files.clientCert, double.ca.admin.pem), writeFile(files.clientKey, double.ca.admin.keyPem, { mode: 0o600 }), writeFile(files.caCert, double.ca.management.pem)]);
    const config = ejbcaWsConnector.configSchema.parse({
      type: 'ejbca-ws',
      url: double.url,
      ...files,
      caName: double.state.caName,
      endEntityProfile: EJBCA_ISSUING_PROFILE,
      registration: { endEntityProfile: 'ACME_REGISTRATION' },
      timeoutMs: 10_000,
      retries: 1,
      retryBackoffMs: 10,
    });
    const connector = await ejbcaWsConnector.create(config, deps(dir, clock, 'ejbca'));
    const control = double.control;
    return {
      connector,
      template: { name: 'SERVER', attributes: {} },
      backend: {
        approve: (ticket) => void control.approve(ticket),
        reject: (ticket) => void control.reject(ticket),
        requireApproval: (on) => control.requireApprovals(EJBCA_ISSUING_PROFILE, on ? 1 : 0),
        disableRegistration: (id) => control.disable(id),
        enableRegistration: (id) => control.enable(id),
        setAllowedNames: (id, names) => control.setAllowedNames(id, names),
        revokeOutOfBand: async (serial, reason) => control.revoke(serial, reason),
        slow: () => control.fail({ kind: 'slow' }),
        async fail(mode) {
          if (mode === 'store-closed') throw new Error('ejbca-ws has no store to close');
          await control.fail({ kind: mode });
        },
        heal: () => control.heal(),
        breakNextCertificate: (kind) => control.breakNextCertificate(kind),
        // The double's default certificate profiles (test/fakes/ejbca-ws/profiles.ts), offered by
        // ACME_REGISTRATION (ENDUSER, SERVER) and ACME_SERVER (SERVER): SERVER once.
        heldTemplates: () => [
          { name: 'ENDUSER', keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'], maxValiditySeconds: 730 * 86_400 },
          { name: 'SERVER', keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'], maxValiditySeconds: 730 * 86_400 },
        ],
        protocolErrors: () => control.protocolErrors(),
      },
      async stop() {
        await connector.close();
        await double.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

// ---------------------------------------------------------------- cfssl

/**
 * The real `cfssl serve` from Debian's golang-cfssl (test/fakes/cfssl.ts), with a fresh CA and
 * certdb per case and a TCP proxy in front for the slow and HTTP 500 levers. "Down" stops the
 * process; heal() starts it again on the same files. Out of band is cfssl's own REST revoke, called
 * directly as an operator would. cfssl has no approvals, registrations or a way to send a broken
 * certificate.
 */
const cfssl: Subject = {
  name: 'cfssl',
  capabilities: { approvals: false, registrations: false, slowBackend: true, failureModes: ['connection-refused', 'http-500'], brokenCertificates: [], outOfBandRevocation: true, templates: false },
  async start({ clock }) {
    const backend = await startCfsslBackend({ ocspUrl: `${BASE_URL}/ocsp/cfssl` });
    const dataDir = await mkdtemp(join(tmpdir(), 'contract-cfssl-'));
    const config = cfsslConnector.configSchema.parse({
      type: 'cfssl',
      url: backend.url,
      endpoint: 'authsign',
      authKeyFile: backend.files.authKey,
      certdb: backend.files.certdb,
      timeoutMs: 10_000,
    });
    const connector = await cfsslConnector.create(config, deps(dataDir, clock, 'cfssl'));
    const none = (what: string) => nope('cfssl', what);
    return {
      connector,
      template: { name: CFSSL_PROFILES.authenticated, attributes: {} },
      backend: {
        approve: none('approvals'),
        reject: none('approvals'),
        requireApproval: none('approvals'),
        disableRegistration: none('registrations'),
        enableRegistration: none('registrations'),
        setAllowedNames: none('registrations'),
        breakNextCertificate: none('broken certificates'),
        heldTemplates: none('template catalog'),
        revokeOutOfBand: (serial, reason) => backend.revokeDirect(serial, reason),
        async slow() {
          backend.setProxyMode('hold');
        },
        async fail(mode) {
          if (mode === 'connection-refused') await backend.stopCfssl();
          else if (mode === 'http-500') backend.setProxyMode('http-500');
          else throw new Error(`cfssl cannot fail with ${mode}`);
        },
        async heal() {
          backend.setProxyMode('pass');
          await backend.startCfssl();
        },
        protocolErrors: () => backend.protocolErrors(),
      },
      async stop() {
        await connector.close();
        await backend.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const subjects: readonly Subject[] = [embedded, ejbcaWs, cfssl];
