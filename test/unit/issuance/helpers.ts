/**
 * Shared pieces of the issuance unit tests (not a test file itself): real PEM certificates from a
 * throwaway CA built with @peculiar/x509, a connector whose issue/status answers the test scripts
 * one call at a time, and an issuance world (SQLite store, TestClock, service) around them.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { DAY_MS, TestClock, addMs } from '../../../src/lib/clock.js';
import { SeededRandom } from '../../../src/lib/random.js';
import { IssuanceService, type IssuanceDeps, type IssuanceProfile } from '../../../src/issuance/service.js';
import { orderBeginFinalize } from '../../../src/ra/order-state.js';
import type { Connector, IssueRequest, Issued, RequestRef, RevokeRequest } from '../../../src/sdk/connector.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { OrderId, OrderRecord, Store } from '../../../src/storage/store.js';
import { T0, accountRecord, orderRecord } from '../../helpers/records.js';
import { memoryLogger } from '../../helpers/memory-logger.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface TestCa {
  caPem: string;
  /** base64url of the CA's subject key identifier: every leaf's AKI keyIdentifier. */
  authorityKeyId: string;
  /** A leaf for `names` with `serialHex`, valid from notBefore for 90 days unless told. */
  issue(serialHex: string, names: string[], validity?: { notBefore: Date; notAfter: Date }): Promise<Issued>;
}

export async function testCa(): Promise<TestCa> {
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ski = await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Test Issuing CA, O=Example',
    notBefore: addMs(T0, -DAY_MS),
    notAfter: addMs(T0, 3650 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), ski],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return {
    caPem: ca.toString('pem'),
    authorityKeyId: Buffer.from(ski.keyId, 'hex').toString('base64url'),
    async issue(serialHex, names, validity = { notBefore: T0, notAfter: addMs(T0, 90 * DAY_MS) }) {
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serialHex,
        subject: `CN=${names[0] ?? 'unnamed'}`,
        issuer: ca.subject,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        publicKey: leafKeys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: SIGNING,
        extensions: [
          new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ],
      });
      return { serial: serialHex, issuer: 'CN=Test Issuing CA, O=Example', leafPem: leaf.toString('pem'), chainPem: [ca.toString('pem')] };
    },
  };
}

/** A promise the test settles by hand, and one that says when the code reached it. */
export interface Held<T> {
  promise: Promise<T>;
  /** Resolves once the connector call waiting on `promise` has started. */
  entered: Promise<void>;
  enter(): void;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function held<T>(): Held<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  let enter!: () => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const entered = new Promise<void>((res) => {
    enter = res;
  });
  return { promise, entered, enter, resolve, reject };
}

/** One scripted answer: a certificate, an error to throw, or a call the test settles by hand. */
export type Step = Issued | Error | Held<Issued>;

/** A connector that answers issue() and status() from the test's script, in order, and records the calls. */
export class ScriptedConnector implements Connector {
  readonly type = 'scripted';
  readonly issueSteps: Step[] = [];
  readonly statusSteps: Step[] = [];
  readonly issued: IssueRequest[] = [];
  readonly polled: RequestRef[] = [];

  issue(req: IssueRequest): Promise<Issued> {
    this.issued.push(req);
    return this.play(this.issueSteps, 'issue');
  }

  status(ref: RequestRef): Promise<Issued> {
    this.polled.push(ref);
    return this.play(this.statusSteps, 'status');
  }

  revoke(_req: RevokeRequest): Promise<void> {
    return Promise.reject(new Error('revoke is not part of issuance'));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private play(steps: Step[], op: string): Promise<Issued> {
    const step = steps.shift();
    if (step === undefined) return Promise.reject(new Error(`the test scripted no answer for this ${op}() call`));
    if (step instanceof Error) return Promise.reject(step);
    if ('promise' in step) {
      step.enter();
      return step.promise;
    }
    return Promise.resolve(step);
  }
}

export const FINALIZE_AT = addMs(T0, 3_600_000);

export interface World {
  store: Store;
  clock: TestClock;
  log: ReturnType<typeof memoryLogger>;
  connector: ScriptedConnector;
  profile: IssuanceProfile;
  service: IssuanceService;
  ca: TestCa;
  /** Another service on the same store and connector, as a second gateway instance. */
  serviceAs(instanceId: string): IssuanceService;
  /** An account and a ready order for `names`, moved to processing as finalize does at FINALIZE_AT. */
  finalized(names?: string[], over?: Partial<OrderRecord>): Promise<OrderRecord>;
  order(id: OrderId): Promise<OrderRecord>;
  close(): Promise<void>;
}

let caOnce: Promise<TestCa> | undefined;

export async function world(opts: { profile?: Partial<Omit<IssuanceProfile, 'connector'>>; deps?: Partial<IssuanceDeps> } = {}): Promise<World> {
  const store = await createSqlStore({ driver: 'sqlite', path: ':memory:' });
  const clock = new TestClock(FINALIZE_AT);
  const log = memoryLogger();
  const connector = new ScriptedConnector();
  const profile: IssuanceProfile = {
    name: 'web',
    connector,
    template: { name: 'server', attributes: { caName: 'Issuing CA' } },
    defaultValidityMs: 90 * DAY_MS,
    finalizeWaitMs: 5_000,
    maxPendingMs: 7 * DAY_MS,
    ...opts.profile,
  };
  const depsFor = (instanceId: string): IssuanceDeps => ({
    store,
    clock,
    random: new SeededRandom(`issuance-${instanceId}`),
    log,
    instanceId,
    profileFor: (order) => (order.profile === 'web' ? profile : undefined),
    orderUrl: (p, id) => `https://acme.example.test/acme/${p}/order/${id}`,
    accountUrl: (p, id) => `https://acme.example.test/acme/${p}/acct/${id}`,
    callTimeoutMs: 30_000,
    ...opts.deps,
  });
  const service = new IssuanceService(depsFor('gw-1'));
  const others: IssuanceService[] = [];
  caOnce ??= testCa();
  const ca = await caOnce;
  const w: World = {
    store,
    clock,
    log,
    connector,
    profile,
    service,
    ca,
    serviceAs(instanceId) {
      const s = new IssuanceService(depsFor(instanceId));
      others.push(s);
      return s;
    },
    async finalized(names = ['www.example.test'], over = {}) {
      const account = accountRecord({ profile: 'web' });
      const { order, authzs } = orderRecord(account, names, { status: 'ready', policy: { template: 'server' }, ...over });
      const now = clock.now();
      const started = orderBeginFinalize(order, now, service.recheckAt(now), new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x07]), { keyType: 'ec-p256', finalizedAt: now.toISOString() });
      await store.transaction(async (tx) => {
        await tx.insertAccount(account);
        await tx.insertOrder(started, authzs.map((a) => ({ ...a, status: 'valid' })));
      });
      return started;
    },
    async order(id) {
      const o = await store.getOrder(id);
      if (!o) throw new Error(`order ${id} is not stored`);
      return o;
    },
    async close() {
      await Promise.all([service, ...others].map((s) => s.stop()));
      await store.close();
    },
  };
  return w;
}
